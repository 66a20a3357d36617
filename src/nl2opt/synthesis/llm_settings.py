"""LLM-proposed generator settings for the feedback loop (optional).

`llm_proposer(cache)` returns a `tuning.Proposer`: it shows the LLM the family's size
parameters, the targets and every setting tried so far (prompt synth_settings.v1)
and returns the proposals that lie within the allowed ranges. The loop probes them
before its own search.
"""

from __future__ import annotations

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMError, LLMRequest, Sampling
from nl2opt.pipeline.prompts import render_prompt
from nl2opt.synthesis.family import Family, Sizes, SynthesisError
from nl2opt.synthesis.llm_calls import AnswerCache, SynthPending
from nl2opt.synthesis.tuning import Probe, Proposer, Targets

SETTINGS_PROMPT = "synth_settings.v1"
SETTINGS_SCHEMA = {"type": "object", "required": ["settings"], "additionalProperties": False,
                   "properties": {"settings": {"type": "array", "items": {
                       "type": "object", "additionalProperties": {"type": "integer"}}}}}


def settings_request(family: Family, targets: Targets, probes: list[Probe]) -> LLMRequest:
    history = [f"{p.sizes} -> {p.score:g}, "
               + (f"{max(p.seconds):.2f} s, {p.feasible:.0%}" if p.feasible is not None
                  else "not solved") for p in probes]
    prompt = render_prompt(SETTINGS_PROMPT, family=family.name, title=family.title,
                           sizes=family.sizes, low=targets.complexity[0],
                           high=targets.complexity[1], max_seconds=targets.solve_seconds[1],
                           feasible_percent=round(100 * targets.feasible_rate), history=history)
    return LLMRequest(messages=prompt.messages, json_schema=SETTINGS_SCHEMA,
                      schema_name="synth_settings", sampling=Sampling(temperature=0.0,
                                                                      max_tokens=1024),
                      prompt_id=prompt.id, prompt_hash=prompt.hash)


def read_proposals(family: Family, text: str) -> list[Sizes]:
    """The proposals in a reply that name only known sizes within their ranges."""
    payload = extract_json(text)
    proposals = payload.get("settings") if isinstance(payload, dict) else None
    valid = []
    for proposal in proposals if isinstance(proposals, list) else []:
        if not isinstance(proposal, dict):
            continue
        try:
            valid.append(family.check_sizes({k: int(v) for k, v in proposal.items()}))
        except (SynthesisError, TypeError, ValueError):
            continue
    return valid


def llm_proposer(cache: AnswerCache) -> Proposer:
    def propose(family: Family, targets: Targets, probes: list[Probe]) -> list[Sizes]:
        request = settings_request(family, targets, probes)
        answer = cache.ask([request])[0]
        if answer is None:
            raise SynthPending(cache.pending, 1)  # type: ignore[arg-type]
        if isinstance(answer, LLMError):
            return []
        return read_proposals(family, answer[0].text)

    return propose
