"""A chat follow-up, mapped by the LLM to one solver-backed tool (the request is typed).

The LLM only chooses: revise the model, a what-if on a parameter, a why-not
condition, the sensitivity, or the explanation of the current answer. What the
user then sees is that tool's result, computed by the solver; the LLM's words
never stand in for an answer. A reply that cannot be read falls back to
"revise", which is what a follow-up did before tools existed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from nl2opt.formulation.model import Formulation
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMBackend, LLMRequest, LLMResponse, Sampling
from nl2opt.pipeline.prompts import render_prompt

ROUTE_PROMPT = "followup.v1"
MAX_MODEL_CHARS = 12_000  # the model as JSON; longer data is cut (names come first)

Tool = Literal["revise", "what_if", "why_not", "sensitivity", "explain"]


class Route(BaseModel):
    """The tool the LLM chose and its arguments."""

    tool: Tool
    parameter: str = ""
    index: list[str | int] = Field(default_factory=list)
    value: float | None = None
    condition: str = ""
    condition_words: str = ""
    reasoning: str = ""


def route_request(formulation: Formulation, message: str) -> LLMRequest:
    text = formulation.to_json(indent=None)
    if len(text) > MAX_MODEL_CHARS:
        text = text[:MAX_MODEL_CHARS] + " ... (cut)"
    prompt = render_prompt(ROUTE_PROMPT, formulation=text, message=message.strip())
    return LLMRequest(messages=prompt.messages, json_schema=Route.model_json_schema(),
                      schema_name="followup_route", sampling=Sampling(max_tokens=512),
                      prompt_id=prompt.id, prompt_hash=prompt.hash)


def read_route(response: LLMResponse) -> tuple[Route, str]:
    """The route, and a note when the reply was unusable (then: revise)."""
    payload = response.parsed or extract_json(response.text)
    try:
        route = Route.model_validate(payload)
    except ValidationError as error:
        first = str(error).splitlines()[1:2] or ["no JSON object"]
        return Route(tool="revise"), f"the routing reply was unusable ({first[0].strip()})"
    if route.tool == "what_if" and (not route.parameter or route.value is None):
        return Route(tool="revise"), "the what-if named no parameter or value"
    if route.tool == "why_not" and not route.condition.strip():
        return Route(tool="revise"), "the why-not gave no condition"
    return route, ""


def route_followup(formulation: Formulation, message: str, llm: LLMBackend
                   ) -> tuple[Route, str]:
    """Ask the LLM which tool answers `message` about `formulation`."""
    response = llm.generate([route_request(formulation, message)])[0][0]
    return read_route(response)
