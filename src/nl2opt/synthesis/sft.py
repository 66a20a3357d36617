"""SFT export: chat records that teach a model nl2opt's own task.

Each accepted pair becomes one JSON line `{"messages": [...], "uid": ...}` whose
messages are exactly what nl2opt sends when it formulates a problem (the
formulate prompt: system, the worked example, the problem) followed by the reply
nl2opt expects, `{"reasoning": "...", "formulation": {...}}`. TRL's SFTTrainer reads
the `messages` column as it is; `dataset_info.json` registers the file for
LLaMA-Factory (sharegpt formatting with OpenAI-style role/content tags).
"""

from __future__ import annotations

import json
from pathlib import Path

from nl2opt.pipeline.prompts import fewshot_answer, render_prompt
from nl2opt.pipeline.run import FORMULATE_PROMPT
from nl2opt.synthesis.records import ProblemRecord
from nl2opt.synthesis.store import write_json, write_text

SFT_FILE = "sft.jsonl"
LLAMA_FACTORY_FILE = "dataset_info.json"
DATASET_NAME = "nl2opt_synthetic"


def reasoning(formulation: dict) -> str:
    """A short reasoning in the shape the formulate prompt asks for: decisions,
    objective, main restrictions (from the formulation's own descriptions)."""
    decisions = "; ".join(v.get("description") or v["name"] for v in formulation["variables"])
    objective = formulation["objective"]
    goal = f"{objective['sense']} {objective.get('description') or objective['expression']}"
    limits = "; ".join(c.get("description") or c["name"]
                       for c in formulation.get("constraints", []))
    text = f"Decide {decisions}. Objective: {goal}."
    return text + (f" Restrictions: {limits}." if limits else "")


def chat_record(record: ProblemRecord) -> dict:
    prompt = render_prompt(FORMULATE_PROMPT, problem=record.question.strip(),
                           example_answer=fewshot_answer())
    reply = {"reasoning": reasoning(record.formulation), "formulation": record.formulation}
    messages = [m.model_dump() for m in prompt.messages]
    messages.append({"role": "assistant", "content": json.dumps(reply, ensure_ascii=False)})
    return {"messages": messages, "uid": record.uid, "family": record.family,
            "problem_class": record.problem_class, "prompt": f"{prompt.id}@{prompt.hash}"}


def llama_factory_info(file_name: str = SFT_FILE) -> dict:
    return {DATASET_NAME: {
        "file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"}}}


def write_sft(out: Path, records: list[ProblemRecord]) -> Path:
    """Write sft.jsonl (accepted pairs only) and dataset_info.json; returns the jsonl path."""
    lines = [json.dumps(chat_record(r), ensure_ascii=False) for r in records
             if r.acceptance.accepted]
    path = out / SFT_FILE
    write_text(path, "".join(line + "\n" for line in lines))
    write_json(out / LLAMA_FACTORY_FILE, llama_factory_info())
    return path
