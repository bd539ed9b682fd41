"""The seed's examples (shared/seed/running-agents.md), run as written with `from nbagent import Agent`,
against the loopback server speaking OpenAI Chat Completions."""

from __future__ import annotations

import asyncio

from provider_server import openai_json, openai_stream


def test_run_sync_run_and_run_stream(openai_env, capsys):
    openai_env.enqueue(openai_json("Rome"), openai_json("Paris"), openai_stream("London"))

    from nbagent import Agent

    agent = Agent('openai:gpt-4o')

    result_sync = agent.run_sync('What is the capital of Italy?')
    print(result_sync.output)
    #> Rome

    async def main():
        result = await agent.run('What is the capital of France?')
        print(result.output)
        #> Paris

        async with agent.run_stream('What is the capital of the UK?') as response:
            print(await response.get_output())
            #> London

    asyncio.run(main())
    assert capsys.readouterr().out == "Rome\nParis\nLondon\n"
    bodies = [request.json for request in openai_env.requests]
    assert [body["messages"][-1]["content"] for body in bodies] == [
        "What is the capital of Italy?", "What is the capital of France?", "What is the capital of the UK?"]
    assert [body["stream"] for body in bodies] == [False, False, True]
    assert bodies[2]["stream_options"] == {"include_usage": True}
    assert all(body["model"] == "gpt-4o" for body in bodies)


def test_model_settings_per_run(openai_env, capsys):
    openai_env.enqueue(openai_json("Rome"))

    from nbagent import Agent

    agent = Agent('openai:gpt-4o')

    result_sync = agent.run_sync(
        'What is the capital of Italy?', model_settings={'temperature': 0.0}
    )
    print(result_sync.output)
    #> Rome
    assert capsys.readouterr().out == "Rome\n"
    assert openai_env.last_request.json["temperature"] == 0.0


def test_settings_at_init_and_per_run_merge_key_by_key(openai_env):
    from nbagent import Agent

    agent = Agent('openai:gpt-4o', model_settings={'temperature': 0.9, 'max_tokens': 50, 'top_p': 0.5})
    agent.run_sync('hi', model_settings={'temperature': 0.1, 'seed': 7})
    body = openai_env.last_request.json
    assert (body["temperature"], body["max_completion_tokens"], body["top_p"], body["seed"]) == (0.1, 50, 0.5, 7)
    agent.run_sync('hi again')
    body = openai_env.last_request.json
    assert (body["temperature"], body["max_completion_tokens"], "seed" in body) == (0.9, 50, False)


def test_conversation_of_two_runs(openai_env, capsys):
    openai_env.enqueue(
        openai_json("Albert Einstein was a German-born theoretical physicist."),
        openai_json("Albert Einstein's most famous equation is (E = mc^2)."),
    )

    from nbagent import Agent

    agent = Agent('openai:gpt-4o')

    # First run
    result1 = agent.run_sync('Who was Albert Einstein?')
    print(result1.output)
    #> Albert Einstein was a German-born theoretical physicist.

    # Second run, passing previous messages
    result2 = agent.run_sync(
        'What was his most famous equation?',
        message_history=result1.new_messages(),  # Continue the conversation; without message_history the model would not know who "his" was referring to.
    )
    print(result2.output)
    #> Albert Einstein's most famous equation is (E = mc^2).

    assert capsys.readouterr().out.splitlines() == [
        "Albert Einstein was a German-born theoretical physicist.",
        "Albert Einstein's most famous equation is (E = mc^2).",
    ]
    assert openai_env.last_request.json["messages"] == [
        {"role": "user", "content": "Who was Albert Einstein?"},
        {"role": "assistant", "content": "Albert Einstein was a German-born theoretical physicist."},
        {"role": "user", "content": "What was his most famous equation?"},
    ]
    assert len(result2.all_messages()) == 4 and len(result2.new_messages()) == 2


async def test_stream_text_accumulated_and_delta(openai_env):
    from nbagent import Agent

    agent = Agent('openai:gpt-4o')
    openai_env.enqueue(openai_stream(["The", " capital", " is", " London."], usage=(12, 4)))
    async with agent.run_stream('What is the capital of the UK?') as response:
        grown = [text async for text in response.stream_text(debounce_by=None)]
        assert response.is_complete
    assert grown == ["The", "The capital", "The capital is", "The capital is London."]
    assert (response.usage().input_tokens, response.usage().output_tokens) == (12, 4)

    openai_env.enqueue(openai_stream(["The", " capital", " is", " London."]))
    async with agent.run_stream('What is the capital of the UK?') as response:
        deltas = [delta async for delta in response.stream_text(delta=True, debounce_by=None)]
    assert deltas == ["The", " capital", " is", " London."]
    assert response.new_messages()[-1].text == "The capital is London."


async def test_run_sync_inside_a_running_event_loop(openai_env):
    """The Jupyter case: a coroutine (like a notebook cell under ipykernel) calls run_sync."""
    from nbagent import Agent

    openai_env.enqueue(openai_json("Rome"))
    agent = Agent('openai:gpt-4o')

    async def cell():
        asyncio.get_running_loop()  # a loop is running here, as in Jupyter
        return agent.run_sync('What is the capital of Italy?')

    assert (await cell()).output == "Rome"


def test_run_sync_inside_asyncio_run(openai_env):
    from nbagent import Agent

    openai_env.enqueue(openai_json("Rome"), openai_json("Paris"))
    agent = Agent('openai:gpt-4o')

    async def main():
        first = agent.run_sync('What is the capital of Italy?')
        second = await agent.run('What is the capital of France?')
        return first.output, second.output

    assert asyncio.run(main()) == ("Rome", "Paris")
