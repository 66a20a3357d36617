"""Text/formulation pairs: back-translate, criticise, refine, formulate again, verify.

Each pair is a small state machine (`PairState.next`): write -> critic -> (refine ->
critic)* -> forward -> done, or augment -> forward -> done for augmented variants.
All pairs of a chunk move in waves, one LLM call per wave for every pair that needs
one, so batching backends see the whole chunk at once. A pair whose request is
queued for an offline batch waits; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse
from nl2opt.synthesis import texts
from nl2opt.synthesis.augment import changes_model, label, perturb_parameters
from nl2opt.synthesis.families import get_family
from nl2opt.synthesis.llm_calls import AnswerCache
from nl2opt.synthesis.records import (
    Acceptance,
    GeneratorSettings,
    InstanceRecord,
    ProblemRecord,
)
from nl2opt.synthesis.store import read_tables
from nl2opt.synthesis.texts import Style

TEXT_STAGES = ("write", "critic", "refine", "augment")


@dataclass
class PairState:
    uid: str
    family: str
    formulation: dict
    label: dict  # answer, answer_status, problem_class, complexity
    generator: GeneratorSettings
    data_files: list[str]
    style: Style
    seed: int
    augmentation: dict | None = None
    base_text: str = ""  # the parent's text, for augmentations
    text: str | None = None
    critiques: list[list[str]] = field(default_factory=list)
    next: str = "write"
    prompts: set[str] = field(default_factory=set)
    failure: Acceptance | None = None
    waiting: bool = False

    def fail(self, stage: str, reason: str) -> None:
        self.failure = Acceptance(accepted=False, stage=stage, reason=reason[:2000])
        self.next = "done"


def from_instance(record: InstanceRecord, styles: list[str]) -> PairState:
    """A fresh pair for a labelled instance; the style is a function of its seed."""
    data = "files" if record.data_files else "inline"
    style = Style(styles[record.generator.seed % len(styles)], data)
    return PairState(record.uid, record.family, record.formulation, _label(record),
                     record.generator, record.data_files, style, record.generator.seed)


def augmented(parent: ProblemRecord, kind: str, data_dir: str,
              time_limit: float | None) -> PairState:
    """A variant of an accepted pair; 'parameters' perturbs and relabels the data here."""
    state = PairState(f"{parent.uid}~{kind}", parent.family, parent.formulation,
                      _label(parent), parent.generator, parent.data_files,
                      Style(parent.style.get("style", "story"),
                            parent.style.get("data", "inline")),
                      parent.generator.seed + len(kind),
                      {"kind": kind, "parent": parent.uid}, parent.question, next="augment")
    if kind == "parameters":
        state.formulation = perturb_parameters(parent.formulation, state.seed)
        _relabel(state, label(state.formulation, data_dir, time_limit))
    return state


def _label(record: InstanceRecord | ProblemRecord) -> dict:
    return {"answer": record.answer, "answer_status": record.answer_status,
            "problem_class": record.problem_class, "complexity": dict(record.complexity)}


def _relabel(state: PairState, found: dict) -> None:
    if "error" in found:
        state.fail("augment", found["error"])
    else:
        state.label = found


def advance_texts(states: list[PairState], cache: AnswerCache, rounds: int, out: Path,
                  time_limit: float | None) -> None:
    """Run the text waves until every pair is ready for forward modelling, failed or
    waiting for an offline batch."""
    while True:
        active = [s for s in states if s.next in TEXT_STAGES and not s.waiting]
        if not active:
            return
        requests = [_request(s, out) for s in active]
        for state, request, answer in zip(active, requests, cache.ask(requests)):
            if answer is None:
                state.waiting = True
            elif isinstance(answer, LLMError):
                state.fail(state.next, f"the LLM failed: {answer}")
            else:
                state.prompts.add(f"{request.prompt_id}@{request.prompt_hash}")
                _apply(state, answer[0], rounds, str(out.resolve()), time_limit)


def _request(state: PairState, out: Path) -> LLMRequest:
    round_number = len(state.critiques)
    if state.next == "write":
        tables = read_tables(out, state.data_files)
        return texts.write_request(state.formulation, state.style,
                                   get_family(state.family).example, tables, state.seed)
    if state.next == "critic":
        return texts.critic_request(state.formulation, state.text or "",
                                    state.seed + round_number)
    if state.next == "refine":
        return texts.refine_request(state.formulation, state.text or "", state.critiques[-1],
                                    round_number, state.seed + round_number)
    return texts.augment_request(state.augmentation["kind"], state.formulation,
                                 state.base_text, state.seed)


def _apply(state: PairState, response: LLMResponse, rounds: int, data_dir: str,
           time_limit: float | None) -> None:
    if state.next == "critic":
        found = texts.read_critique(response)
        if found:
            state.critiques.append(found)
        finished = found is None or not found or len(state.critiques) >= rounds
        state.next = "forward" if finished else "refine"
        return
    if state.next == "augment":
        _apply_augment(state, response, data_dir, time_limit)
        return
    text = texts.read_text(response)
    if text is None:
        state.fail(state.next, f"no problem text in the LLM's reply: {response.text[:300]!r}")
        return
    state.text = text
    state.next = "critic" if rounds > 0 else "forward"


def _apply_augment(state: PairState, response: LLMResponse, data_dir: str,
                   time_limit: float | None) -> None:
    kind = state.augmentation["kind"]
    text, changed = texts.read_augmented(response)
    if text is None:
        state.fail("augment", f"no problem text in the LLM's reply: {response.text[:300]!r}")
        return
    state.text = text
    state.next = "forward"
    if changes_model(kind):
        if changed is None:
            state.fail("augment", f"the '{kind}' augmentation returned no formulation")
            return
        state.formulation = changed
        _relabel(state, label(changed, data_dir, time_limit))
