"""Self-exploration (AlphaOPT's `self_explore`) for answer-only training items.

Up to k tries, all failing tasks of a batch together: the LLM sees the problem,
the known correct answer and every earlier attempt with its result, and writes
a new formulation; the first one that solves to the label becomes the task's
reference model for the diagnosis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.library.diagnose import expected_text
from nl2opt.library.model import TrainingTask
from nl2opt.library.solving import TaskResult, check_formulations
from nl2opt.llm.types import LLMBackend, LLMRequest, Sampling
from nl2opt.pipeline.reply import read_reply, reply_schema
from nl2opt.pipeline.run import PipelineOptions
from nl2opt.prompts import render_prompt

EXPLORE_PROMPT = "library_explore.v1"


def explore_request(task: TrainingTask, attempts: Sequence[TaskResult], options: PipelineOptions
                    ) -> LLMRequest:
    shown = [{"formulation": json.dumps(a.formulation, ensure_ascii=False)
              if a.formulation else "(no usable formulation)", "result": a.summary()}
             for a in attempts]
    prompt = render_prompt(EXPLORE_PROMPT, problem=task.question.strip(),
                           expected=expected_text(task), attempts=shown)
    return LLMRequest(messages=prompt.messages, prompt_id=prompt.id, prompt_hash=prompt.hash,
                      json_schema=reply_schema() if options.structured else None,
                      schema_name="formulation_reply",
                      sampling=Sampling(temperature=0.7, max_tokens=options.max_tokens,
                                        seed=len(attempts)))


def self_explore(tasks: Sequence[TrainingTask], failures: Sequence[TaskResult],
                 llm: LLMBackend, options: PipelineOptions, pool: SolvePool, tries: int
                 ) -> dict[str, dict]:
    """uid -> a formulation (as a dict) that reaches the label, for the tasks where one
    was found within `tries`."""
    history = {task.uid: [failure] for task, failure in zip(tasks, failures)}
    found: dict[str, dict] = {}
    for _ in range(tries):
        open_tasks = [task for task in tasks if task.uid not in found]
        if not open_tasks:
            break
        replies = llm.generate([explore_request(task, history[task.uid], options)
                                for task in open_tasks])
        formulations = [_formulation(reply[0]) for reply in replies]
        for task, result in zip(open_tasks, check_formulations(open_tasks, formulations,
                                                               options, pool)):
            if result.correct and result.formulation is not None:
                found[task.uid] = result.formulation
            history[task.uid].append(result)
    return found


def _formulation(response) -> dict | None:
    formulation, _, _ = read_reply(response)
    return formulation.to_dict() if formulation is not None else None
