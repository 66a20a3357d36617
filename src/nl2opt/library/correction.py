"""Learning from a person's correction ("this answer is wrong, the right value is ...").

`correction_task` turns the conversation's problem, the formulation the app
answered with, and the value the person says is right into a training task;
`learn_from_correction` learns from it at once (self-exploration finds a
formulation reaching the value, the diagnosis compares, verification decides).
"""

from __future__ import annotations

import hashlib
import json

from nl2opt.library.learn import LearnOptions, LearnSummary, learn
from nl2opt.library.model import TrainingTask
from nl2opt.library.store import LibraryStore
from nl2opt.llm.types import LLMBackend


def correction_task(problem: str, formulation: dict | None, correct_value: float | None,
                    status: str = "optimal") -> TrainingTask:
    """A training task from a correction; `status` other than "optimal" (e.g.
    "infeasible") says the right answer is that no plan exists."""
    payload = json.dumps([problem, correct_value, status], sort_keys=True)
    uid = "person/" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]
    return TrainingTask(uid=uid, dataset="person", question=problem,
                        answer=correct_value if status == "optimal" else None,
                        answer_status=status, failing_formulation=formulation)


def learn_from_correction(store: LibraryStore, llm: LLMBackend, problem: str,
                          formulation: dict | None, correct_value: float | None,
                          status: str = "optimal",
                          options: LearnOptions = LearnOptions(run="corrections")
                          ) -> LearnSummary:
    return learn(store, llm, [correction_task(problem, formulation, correct_value, status)],
                 options)
