"""Back-translation prompts and replies: write a problem text from a formulation in a
given style, criticise it against the formulation, refine it, or make an augmented
variant. Pure functions: requests in, parsed replies out (no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMRequest, LLMResponse, Sampling
from nl2opt.pipeline.prompts import render_prompt
from nl2opt.pipeline.reply import reply_schema
from nl2opt.synthesis.tables import DataTable

WRITE_PROMPT, CRITIC_PROMPT, REFINE_PROMPT, AUGMENT_PROMPT = (
    "synth_write.v1", "synth_critic.v1", "synth_refine.v1", "synth_augment.v1")
STYLES = {
    "story": "a short story about a realistic situation, in flowing prose; numbers may be "
             "woven into sentences or listed where there are many.",
    "table": "a short introduction, then the data in Markdown tables, then the rules as a "
             "bulleted list and the question.",
    "spec": "a terse specification: a one-line summary, then bullet points for the "
            "decisions, the objective, each restriction and the data; no story.",
}
DATA_MODES = {
    "inline": "give every number in the text itself.",
    "files": "the large tables are in the data files listed below; refer to each file by "
             "its path and explain what its columns mean, but do not copy its rows into the "
             "text. Give every other number in the text.",
}
AUGMENTATIONS = {
    "rephrase": "rewrite the text in different words and a different order of presentation; "
                "the model and all numbers stay exactly the same.",
    "domain": "move the problem to another application domain (other products, places or "
              "activities, with new element names kept consistent); the mathematics and all "
              "numbers stay exactly the same.",
    "parameters": "the model's data has changed; rewrite the text so that it states the new "
                  "numbers exactly (the model below already holds them).",
    "constraint": "add one new, realistic restriction or change an existing one so that the "
                  "optimal solution changes; update the model and the text consistently.",
    "objective": "change the objective to another realistic goal for the same decisions "
                 "(e.g. another cost or profit measure); update the model and the text.",
}
CHANGES_MODEL = ("constraint", "objective")
PREVIEW_ROWS = 6


@dataclass(frozen=True)
class Style:
    name: str
    data: str  # "inline" or "files"

    def as_dict(self) -> dict[str, str]:
        return {"style": self.name, "data": self.data}


def _schema(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


TEXT_SCHEMA = _schema({"text": {"type": "string"}}, ["text"])
CRITIC_SCHEMA = _schema({"verdict": {"type": "string", "enum": ["complete", "discrepancies"]},
                         "discrepancies": {"type": "array", "items": {"type": "string"}}},
                        ["verdict", "discrepancies"])


@lru_cache(maxsize=1)
def augment_schema() -> dict:
    base = reply_schema()
    formulation = base["properties"]["formulation"]
    return {**_schema({"text": {"type": "string"},
                       "formulation": {"anyOf": [formulation, {"type": "null"}]}},
                      ["text", "formulation"]), "$defs": base["$defs"]}


def model_text(formulation: dict) -> str:
    return json.dumps(formulation, ensure_ascii=False)


def table_views(tables: list[DataTable]) -> list[dict]:
    return [{"path": t.path, "rows": t.rows,
             "preview": "\n".join(t.text.splitlines()[:PREVIEW_ROWS + 1])} for t in tables]


def _request(prompt_id: str, schema: dict, name: str, seed: int, temperature: float,
             **values) -> LLMRequest:
    prompt = render_prompt(prompt_id, **values)
    return LLMRequest(messages=prompt.messages, json_schema=schema, schema_name=name,
                      sampling=Sampling(temperature=temperature, max_tokens=4096, seed=seed),
                      prompt_id=prompt.id, prompt_hash=prompt.hash)


def write_request(formulation: dict, style: Style, example: str, tables: list[DataTable],
                  seed: int) -> LLMRequest:
    return _request(WRITE_PROMPT, TEXT_SCHEMA, "synth_text", seed, 0.7,
                    style_instructions=STYLES[style.name], data_instructions=DATA_MODES[
                        style.data], example=example, formulation=model_text(formulation),
                    tables=table_views(tables))


def critic_request(formulation: dict, text: str, seed: int) -> LLMRequest:
    return _request(CRITIC_PROMPT, CRITIC_SCHEMA, "synth_critique", seed, 0.0,
                    formulation=model_text(formulation), text=text)


def refine_request(formulation: dict, text: str, discrepancies: list[str], round_number: int,
                   seed: int) -> LLMRequest:
    return _request(REFINE_PROMPT, TEXT_SCHEMA, "synth_text", seed, 0.3,
                    formulation=model_text(formulation), text=text, round=round_number,
                    discrepancies="\n".join(f"- {d}" for d in discrepancies))


def augment_request(kind: str, formulation: dict, text: str, seed: int) -> LLMRequest:
    return _request(AUGMENT_PROMPT, augment_schema(), "synth_augment", seed, 0.7,
                    instructions=AUGMENTATIONS[kind], formulation=model_text(formulation),
                    text=text)


def _payload(response: LLMResponse) -> dict | None:
    payload = response.parsed if response.parsed is not None else extract_json(response.text)
    return payload if isinstance(payload, dict) else None


def read_text(response: LLMResponse) -> str | None:
    """The problem text of a write/refine/augment reply, or None if there is none."""
    payload = _payload(response)
    text = payload.get("text") if payload else None
    return text.strip() if isinstance(text, str) and text.strip() else None


def read_critique(response: LLMResponse) -> list[str] | None:
    """[] when the critic says complete, the discrepancies otherwise, None if unreadable."""
    payload = _payload(response)
    if payload is None or payload.get("verdict") not in ("complete", "discrepancies"):
        return None
    found = [str(d).strip() for d in payload.get("discrepancies") or [] if str(d).strip()]
    return [] if payload["verdict"] == "complete" else found or ["(no details given)"]


def read_augmented(response: LLMResponse) -> tuple[str | None, dict | None]:
    """(text, new formulation or None) of an augmentation reply."""
    payload = _payload(response) or {}
    formulation = payload.get("formulation")
    return read_text(response), formulation if isinstance(formulation, dict) else None
