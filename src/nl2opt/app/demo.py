"""The app's demo mode: example conversations replayed from a recording, no GPU needed.

Each example is a problem and follow-up requests with hand-written answers
(src/nl2opt/demo/app_answers.json, plus the bakery answer of `nl2opt demo`),
written by a person, not a model. `rebuild_recording()` plays every example
through the app's own turn functions with those answers recorded, so the
replay keys match the current prompts exactly; run
``python -m nl2opt.app.demo`` after changing a prompt or the reply schema (a
test checks that the recording still matches).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nl2opt.formulation.model import Formulation
from nl2opt.llm.demo import DEMO_MODEL, demo_dir, demo_problem
from nl2opt.llm.types import LLMBackend
from nl2opt.pipeline.run import PipelineOptions

RECORDING = "app_replay.jsonl"
DEMO_ROUNDS = 3  # the recording covers up to this many repair rounds


@dataclass(frozen=True)
class DemoStep:
    request: str  # the user's message (the problem itself for the first step)
    replies: tuple[str, ...]  # keys of hand-written answers, in the order the LLM gives them
    termination: str  # what the step must end with ("analysis": a tool answered it)
    objective: float | None = None  # for an analysis: the objective of its re-solve


@dataclass(frozen=True)
class DemoConversation:
    key: str
    label: str  # the button text
    icon: str  # a Streamlit material icon
    steps: tuple[DemoStep, ...]

    @property
    def problem(self) -> str:
        return self.steps[0].request


def _text(name: str) -> str:
    return (demo_dir() / name).read_text(encoding="utf-8").strip()


def _one_line(text: str) -> str:
    """A problem as one line: what a person types into the chat box (Enter sends)."""
    return " ".join(text.split())


def demo_conversations() -> list[DemoConversation]:
    """The recorded examples: a plain LP with questions the solver answers (what a
    resource is worth, what if, why not) and two revisions; an infeasible case with a
    what-if that fixes it; and a plan over time (line charts)."""
    return [
        DemoConversation("bakery", "Bakery: bread or cakes?", ":material/bakery_dining:", (
            DemoStep(_one_line(demo_problem()), ("bakery",), "optimal", 7200 / 7),
            DemoStep("What is one more oven hour worth?", ("route_sensitivity",), "analysis"),
            DemoStep("What if we had 60 oven hours a day?", ("route_what_if_oven_60",),
                     "analysis", 9900 / 7),
            DemoStep("Why not bake at least 20 batches of cake?", ("route_why_not_cake_20",),
                     "analysis", 900.0),
            DemoStep("We now have 60 oven hours a day.", ("route_revise", "bakery_oven_60"),
                     "optimal", 9900 / 7),
            DemoStep("Bake at least 10 batches of bread.", ("route_revise", "bakery_min_bread"),
                     "optimal", 1350.0))),
        DemoConversation("farm", "Farm plan (infeasible at first)", ":material/agriculture:", (
            DemoStep(_one_line(_text("farm.txt")), ("farm", "farm_unchanged"), "infeasible"),
            DemoStep("What if we rent 20 more acres?", ("route_what_if_land_120",),
                     "analysis", 30000.0))),
        DemoConversation("production", "Six-month production plan", ":material/factory:", (
            DemoStep(_one_line(_text("production.txt")), ("production",), "optimal",
                     34575.0),)),
    ]


def demo_options(rounds: int = DEMO_ROUNDS, **settings) -> PipelineOptions:
    """The pipeline options the recording was made with (rounds may be fewer). The
    recorded conversations have no review verdicts, so the semantic review is off."""
    settings.setdefault("review", False)
    return PipelineOptions(rounds=min(rounds, DEMO_ROUNDS), samples=1, **settings)


def recording_path() -> Path:
    return demo_dir() / RECORDING


def app_demo_backend() -> LLMBackend:
    """The replay backend serving every recorded example conversation."""
    from nl2opt.llm.replay import ReplayBackend

    return ReplayBackend(recording_path(), model=DEMO_MODEL)


def next_demo_step(turns: list[tuple[str, str]]) -> DemoStep | None:
    """The recorded next follow-up after `turns` [(kind, request)] of successful answers,
    or None when the conversation left the recorded path (or has no more steps)."""
    if not turns or turns[0][0] != "formulate":
        return None
    for conversation in demo_conversations():
        requests = [step.request for step in conversation.steps]
        asked = [request.strip() for _, request in turns]
        kinds_ok = all(kind in ("revise", "analysis") for kind, _ in turns[1:])
        if kinds_ok and asked == requests[:len(asked)] and len(asked) < len(requests):
            return conversation.steps[len(asked)]
    return None


def load_answers() -> dict[str, dict]:
    answers = json.loads(_text("app_answers.json"))
    answers["bakery"] = json.loads(_text("bakery_answer.json"))
    return answers


def play(conversation: DemoConversation, llm: LLMBackend, options: PipelineOptions):
    """Run a demo conversation through the app's turn functions; the answers, in order."""
    from nl2opt.app.followups import followup_answer
    from nl2opt.app.turns import formulate_answer

    answers = []
    first = formulate_answer(conversation.problem, llm, options)
    answers.append(first)
    changes: list[str] = []
    current = first
    for step in conversation.steps[1:]:
        formulation = Formulation.model_validate(current.formulation)
        answer = followup_answer(conversation.problem, changes, current, formulation,
                                 step.request, llm, options)
        answers.append(answer)
        if answer.kind == "revise" and not answer.error:
            changes.append(step.request)
            current = answer
    return answers


def rebuild_recording(target: Path | None = None) -> Path:
    """Record the hand-written answers for the current prompts and schema."""
    from nl2opt.llm.replay import RecordingBackend
    from nl2opt.llm.scripted import ScriptedBackend

    target = target or recording_path()
    target.unlink(missing_ok=True)
    answers = load_answers()
    for conversation in demo_conversations():
        replies = [answers[key] for step in conversation.steps for key in step.replies]
        recorder = RecordingBackend(ScriptedBackend(replies, model=DEMO_MODEL), target)
        played = play(conversation, recorder, demo_options())
        for step, answer in zip(conversation.steps, played):
            check_step(conversation, step, answer)
    return target


def check_step(conversation: DemoConversation, step: DemoStep, answer) -> None:
    """Raise RuntimeError if a played step did not end as the example says."""
    ended = "analysis" if answer.kind == "analysis" else answer.termination
    objective = (answer.analysis or {}).get("objective_after") if answer.kind == "analysis" \
        else answer.objective
    problem = answer.error or (
        f"ended {ended}, expected {step.termination}" if ended != step.termination else "")
    if not problem and step.objective is not None and (
            objective is None or abs(objective - step.objective) > 1e-6):
        problem = f"objective {objective}, expected {step.objective}"
    if problem:
        raise RuntimeError(f"demo {conversation.key!r}, step {step.request[:40]!r}: {problem}")


if __name__ == "__main__":
    print(f"wrote {rebuild_recording()}")
