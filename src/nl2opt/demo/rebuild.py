"""Rebuild the CLI demo's recording (`python -m nl2opt.demo.rebuild`).

Records the hand-written answer and review (`bakery_answer.json`, `bakery_review.json`)
for the current prompts and reply schema, through the real pipeline. Run it when a
prompt change makes tests/test_demo.py fail.
"""

from __future__ import annotations

import json
from pathlib import Path

from nl2opt.llm.demo import DEMO_MODEL, demo_dir, demo_problem
from nl2opt.llm.replay import RecordingBackend
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.pipeline.run import PipelineOptions, solve_text


def rebuild_recording() -> Path:
    """Record the hand-written answer for the current prompt and schema."""
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
