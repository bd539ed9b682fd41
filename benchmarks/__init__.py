"""nbagent's benchmarks: client overhead as ratios against a raw httpx loop, PydanticAI and the openai SDK.

Run `python -m benchmarks` (see benchmarks/README.md).
"""
