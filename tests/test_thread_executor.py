"""Where sync functions the agent calls run (tools, history processors, instructions functions): an executor
of yours, per agent (`UseThreadExecutor`) or for every run started in a block (`Agent.using_thread_executor`),
as PydanticAI's tools-advanced page ("Thread executor for long-running servers") describes it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nbagent import Agent, ModelMessage, RunContext, TestModel, UserError
from nbagent.capabilities import UseThreadExecutor


def recording_agent(**options: Any) -> tuple[Agent, list[str]]:
    threads: list[str] = []

    def keep_all(ctx: RunContext, messages: list[ModelMessage]) -> list[ModelMessage]:
        threads.append(f"processor:{threading.current_thread().name}")
        return messages

    agent = Agent(TestModel(), history_processors=[keep_all], **options)

    @agent.instructions
    def instructions() -> str:
        threads.append(f"instructions:{threading.current_thread().name}")
        return "Be brief."

    @agent.tool_plain
    def lookup() -> str:
        threads.append(f"tool:{threading.current_thread().name}")
        return "found"

    return agent, threads


def test_an_agents_executor_runs_its_sync_functions() -> None:
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-worker") as executor:
        agent, threads = recording_agent(capabilities=[UseThreadExecutor(executor)])
        agent.run_sync("Go")
    assert {entry.split(":")[0] for entry in threads} == {"processor", "instructions", "tool"}
    assert all(entry.split(":")[1].startswith("agent-worker") for entry in threads), threads


def test_using_thread_executor_covers_the_runs_started_in_the_block() -> None:
    agent, threads = recording_agent()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-pool") as executor:
        with Agent.using_thread_executor(executor):
            agent.run_sync("Go")
        inside = list(threads)
        threads.clear()
        agent.run_sync("Go")
    assert inside and all(entry.split(":")[1].startswith("server-pool") for entry in inside)
    assert threads and not any(entry.split(":")[1].startswith("server-pool") for entry in threads)


def test_use_thread_executor_takes_an_executor() -> None:
    with pytest.raises(UserError, match="UseThreadExecutor takes a concurrent.futures.Executor"):
        UseThreadExecutor(4)  # type: ignore[arg-type]
