"""What the LLM must answer, and how an answer becomes a Formulation or feedback.

The reply is `{"reasoning": "...", "formulation": {...}}`: a short reasoning
field first, because models formulate better when they think before they
write the elements (and constrained decoders emit properties in order).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import ValidationError

from nl2opt.formulation.model import Formulation, formulation_json_schema
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMResponse
from nl2opt.pipeline.alternatives import Alternative


@lru_cache(maxsize=1)
def reply_schema() -> dict:
    """JSON Schema of the reply envelope, with the formulation's $defs hoisted.

    `alternatives` (optional) declares interpretation choices the text leaves open;
    see nl2opt.pipeline.alternatives."""
    formulation = dict(formulation_json_schema())
    definitions = formulation.pop("$defs", {})
    formulation.pop("$id", None)
    alternative = Alternative.model_json_schema(by_alias=True)
    definitions = {**alternative.pop("$defs", {}), **definitions, "Alternative": alternative}
    return {
        "title": "FormulationReply",
        "type": "object",
        "properties": {"reasoning": {"type": "string"}, "formulation": formulation,
                       "alternatives": {"type": "array",
                                        "items": {"$ref": "#/$defs/Alternative"}}},
        "required": ["reasoning", "formulation"],
        "additionalProperties": False,
        "$defs": definitions,
    }


def reply_payload(response: LLMResponse):
    """The JSON object of a reply (constrained output or the first object in the text)."""
    return response.parsed if response.parsed is not None else extract_json(response.text)


def read_reply(response: LLMResponse) -> tuple[Formulation | None, str, list[str]]:
    """(formulation or None, reasoning, problems) from one LLM response.

    Problems are worded as repair instructions for the next round.
    """
    problems = []
    if response.finish_reason == "length":
        problems.append("The reply was cut off at the token limit. Keep the reasoning to a "
                        "few sentences and descriptions short, and return the complete JSON.")
    payload = reply_payload(response)
    if payload is None:
        problems.append("The reply contained no JSON object. Answer with one JSON object "
                        '{"reasoning": "...", "formulation": {...}} and nothing else.')
        return None, "", problems
    reasoning = str(payload.get("reasoning", "")) if isinstance(payload, dict) else ""
    body = payload.get("formulation", payload) if isinstance(payload, dict) else payload
    if not isinstance(body, dict):
        problems.append('"formulation" must be a JSON object with sets, parameters, variables, '
                        "objective and constraints.")
        return None, reasoning, problems
    try:
        return Formulation.model_validate(body), reasoning, problems
    except ValidationError as error:
        problems.extend(schema_problems(error))
        return None, reasoning, problems


def schema_problems(error: ValidationError, limit: int = 15) -> list[str]:
    """Pydantic errors as located repair instructions, e.g. 'variables[0].type: ...'."""
    lines = []
    for item in error.errors()[:limit]:
        location = _location(item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "this field is not part of the schema; remove it"
        elif item["type"] == "missing":
            message = "this required field is missing"
        lines.append(f"Schema error at formulation.{location}: {message}.")
    hidden = len(error.errors()) - limit
    if hidden > 0:
        lines.append(f"... and {hidden} more schema errors.")
    return lines


def _location(parts: tuple) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"
