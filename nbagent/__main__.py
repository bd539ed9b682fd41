"""`python -m nbagent [question]`: ask the default model from a terminal and watch the answer stream.

With no key configured it answers with the built-in `offline` model (and says so), so it is also the
two-command smoke test of a fresh install.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .agent import Agent
from .errors import NbAgentError
from .result import StreamedRunResult


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbagent", description="Ask nbagent's default model a question.")
    parser.add_argument("question", nargs="*", help="the question (default: a short demo question)")
    parser.add_argument("--model", "-m", help="provider:model-name, e.g. openai:gpt-4o-mini, ollama:llama3.2, test")
    args = parser.parse_args(argv)
    question = " ".join(args.question) or "What can nbagent do in a notebook?"

    async def ask(agent: Agent) -> StreamedRunResult:
        async with agent.run_stream(question) as response:
            async for delta in response.stream_text(delta=True):
                sys.stdout.write(delta)
                sys.stdout.flush()
            return response

    try:
        agent = Agent(args.model)
        response = asyncio.run(ask(agent))
    except NbAgentError as exc:
        print(f"nbagent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nnbagent: interrupted", file=sys.stderr)
        return 130
    usage = response.usage()
    print(f"\n\n[{agent.model.label} · {usage.input_tokens:,} → {usage.output_tokens:,} tokens]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
