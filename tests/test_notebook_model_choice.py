"""Which model a question uses, as a new user meets it in a real kernel: the offline notice only when the
offline model answers (and a hint that says every way out), a bad NBAGENT_MODEL named as the variable it
came from, and `%agent_models` flagging it."""

from __future__ import annotations

from kernel_session import KernelSession, kernel_env, nbagent_kernel

NO_MODEL = {"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None, "NBAGENT_MODEL": None}


def test_a_chosen_model_never_announces_the_offline_one(provider_server, provider):
    env = {**kernel_env(provider_server.openai_base_url), **NO_MODEL,
           "VLLM_BASE_URL": provider_server.openai_base_url, "OLLAMA_BASE_URL": provider_server.openai_base_url}
    with nbagent_kernel(env) as kernel:
        for model in ("vllm:m", "ollama:m"):
            run = kernel.execute(f"%%ask --model {model}\nhello")
            assert run.reply["status"] == "ok", run.errors
            assert run.final_markdown().startswith("Echo: hello")
            assert "offline" not in run.stderr and "offline" not in run.stdout
        offline = kernel.execute("%%ask\nhello")
        assert "no model configured, using the built-in `offline` model" in offline.stderr
        for hint in (offline.stderr, offline.final_markdown()):
            assert "%agent_settings model=" in hint and "before starting Jupyter" in hint


def test_a_bad_NBAGENT_MODEL_is_named_and_flagged(provider_server, provider):
    env = kernel_env(provider_server.openai_base_url, NBAGENT_MODEL="opnai:gpt-4o")
    with nbagent_kernel(env) as kernel:
        run = kernel.execute("%%ask\nhello")
        [error] = run.errors
        assert len(error["traceback"]) == 1 and "\n" not in error["evalue"]
        assert "NBAGENT_MODEL" in error["evalue"] and "'opnai'" in error["evalue"], error["evalue"]
        [listing] = kernel.execute("%agent_models").of_type("display_data")
        markdown = listing["content"]["data"]["text/markdown"]
        assert "%%ask uses opnai:gpt-4o (from NBAGENT_MODEL), which cannot be used:" in markdown, markdown
        fixed = kernel.execute("%agent_settings model=openai:gpt-4o")
        assert fixed.reply["status"] == "ok", fixed.errors
        assert kernel.execute("%%ask\nhello").reply["status"] == "ok"
