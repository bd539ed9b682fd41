"""nbagent's benchmarks: client overhead as ratios against a raw httpx loop, PydanticAI and the openai SDK.

Run `python -m benchmarks` (see benchmarks/README.md). Importing the package puts tests/ (the
provider server, the kernel session) and this checkout's nbagent first on sys.path.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "tests", ROOT):  # provider_server / kernel_session, and this checkout's nbagent
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
