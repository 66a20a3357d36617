"""The no-GPU demo: a bundled problem and a recorded, hand-written answer.

`nl2opt demo` and the spec `demo` replay this recording through the real
pipeline (prompt rendering, request hashing, reply parsing, validation,
compilation, solving, explanation), so anyone can see nl2opt work without a
GPU or an LLM server. The answer was written by hand, not by a model; say so
wherever it is shown.

The recording also holds a hand-written review verdict (no findings) for the
semantic review that follows a successful solve. When a prompt or the reply
schema changes, the recording's key no longer matches; rebuild it with
`python -m nl2opt.demo.rebuild` (a test checks this; the rebuild runs the
pipeline, which sits above this module, so it lives beside the data).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nl2opt.llm.types import LLMBackend

DEMO_MODEL = "demo-hand-written"


def demo_dir() -> Path:
    return Path(str(resources.files("nl2opt.demo")))


def demo_problem() -> str:
    return (demo_dir() / "bakery.txt").read_text(encoding="utf-8")


def demo_backend() -> LLMBackend:
    from nl2opt.llm.replay import ReplayBackend

    return ReplayBackend(demo_dir() / "replay.jsonl", model=DEMO_MODEL)
