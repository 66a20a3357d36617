"""The no-GPU demo: a bundled problem and a recorded, hand-written answer.

`nl2opt demo` and the spec `demo` replay this recording through the real
pipeline (prompt rendering, request hashing, reply parsing, validation,
compilation, solving, explanation), so anyone can see nl2opt work without a
GPU or an LLM server. The answer was written by hand, not by a model; say so
wherever it is shown.

The recording also holds a hand-written review verdict (no findings) for the
semantic review that follows a successful solve. When a prompt or the reply
schema changes, the recording's key no longer matches; rebuild it with
`python -m nl2opt.llm.demo` (a test checks this).
"""

from __future__ import annotations

import json
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


def rebuild_recording() -> Path:
    """Record the hand-written answer for the current prompt and schema."""
    from nl2opt.llm.replay import RecordingBackend
    from nl2opt.llm.scripted import ScriptedBackend
    from nl2opt.pipeline.run import PipelineOptions, solve_text

    answer = json.loads((demo_dir() / "bakery_answer.json").read_text(encoding="utf-8"))
    review = json.loads((demo_dir() / "bakery_review.json").read_text(encoding="utf-8"))
    target = demo_dir() / "replay.jsonl"
    target.unlink(missing_ok=True)
    recorder = RecordingBackend(ScriptedBackend([answer, review], model=DEMO_MODEL), target)
    report = solve_text(demo_problem(), recorder, PipelineOptions())
    if not report.ok:
        raise RuntimeError(f"the demo answer does not solve: {report.error}")
    return target


if __name__ == "__main__":
    print(f"wrote {rebuild_recording()}")
