"""A fake LLM that answers library requests by rule, for learning tests.

The fake modeller writes percentages wrong (40 instead of 0.4, >= instead of <=)
unless the prompt shows an insight saying to write them as a fraction. Its
diagnosis proposes such an insight, worded per task (so two tasks give two
near-duplicates), except for orchard problems, where it proposes a useless one.
Replies depend only on the request, so batching, order and resuming don't matter.
"""

from __future__ import annotations

import json

from library_helpers import PERCENT_EXAMPLE, farm_answer, farm_numbers, farm_problem

from nl2opt.llm.types import LLMRequest, LLMResponse

USEFUL = ("Write 'at most p% of the total' as part <= p/100 * total: the percentage as a "
          "fraction and the direction <=.")
USELESS = "Check the constraint carefully."


def orchard_problem(acres: int, percent: int, apple: int, pear: int) -> str:
    return farm_problem(acres, percent, apple, pear).replace("A farmer", "An orchard owner")


class RuleLLM:
    name = "rule"

    def __init__(self, model: str = "rule") -> None:
        self.model = model
        self.requests: list[LLMRequest] = []

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        self.requests += requests
        return [[LLMResponse(text=json.dumps(answer(request)), finish_reason="stop")] * request.n
                for request in requests]


def _numbered(text: str, word: str) -> list[int]:
    """Numbers of the listed lines whose text (after a "(label) " prefix) has `word`."""
    return [int(line.split(".")[0]) for line in text.split("\n")
            if line[:1].isdigit() and ". " in line and word in line.split(") ", 1)[-1].lower()]


# What each prompt's system message says, for requests that arrive without their prompt
# id (over HTTP, or in a batch file).
SIGNATURES = {"written in plain": "formulate", "reviewing an optimization": "repair",
              "did not reach the known correct answer": "library_explore.v1",
              "whether its condition holds": "library_check.v1",
              "topics where mistakes happen": "library_labels.v1",
              "learning from mistakes": "library_diagnose.v1",
              "alternative conditions": "library_refine.v1",
              "You translate examples": "library_example.v1",
              "You maintain a library": "library_merge.v1"}
REFINED = ["The problem caps a quantity at at most a percentage of a total.",
           "The problem involves crops."]


def prompt_kind(request: LLMRequest) -> str:
    """The rule's name for a request: formulate.v2 / formulate.v1 (repair.v2 / repair.v1)
    for the formulate (repair) prompt with / without insights, whatever its version, else
    the prompt id."""
    system = request.messages[0].content.replace("\n", " ")
    kind = request.prompt_id or next(kind for signature, kind in SIGNATURES.items()
                                     if signature in system)
    for family in ("formulate", "repair"):
        if kind.startswith(family):
            shows = "Insights from past modelling mistakes" in request.messages[-1].content
            return f"{family}.v2" if shows else f"{family}.v1"
    return kind


def answer_body(body: dict) -> dict:
    """The rule's reply to a chat-completion request body (HTTP server, batch files)."""
    return answer(LLMRequest(messages=body["messages"], n=body.get("n") or 1))


def answer_batch(directory) -> int:
    """Play `vllm run-batch`: answer every request in DIR/requests.jsonl not answered yet,
    appending to DIR/responses.jsonl; returns how many were answered."""
    from pathlib import Path

    from llm_server import chat_completion

    directory = Path(directory)
    responses = directory / "responses.jsonl"
    done = {json.loads(line)["custom_id"] for line in responses.read_text().splitlines()} \
        if responses.exists() else set()
    lines = []
    for text in (directory / "requests.jsonl").read_text().splitlines():
        request = json.loads(text)
        if request["custom_id"] in done:
            continue
        body = request["body"]
        reply = json.dumps(answer_body(body))
        lines.append(json.dumps({"id": "batch", "custom_id": request["custom_id"], "error": None,
                                 "response": {"status_code": 200, "request_id": "r",
                                              "body": chat_completion(
                                                  [reply] * (body.get("n") or 1),
                                                  model=body["model"])}}) + "\n")
    with responses.open("a") as handle:
        handle.writelines(lines)
    return len(lines)


def _line(listed: str, number: int) -> str:
    return next(line.lower() for line in listed.split("\n") if line.startswith(f"{number}. "))


def answer(request: LLMRequest) -> dict:
    """The rule's reply to one request."""
    user = request.messages[-1].content
    kind = prompt_kind(request)
    if kind == "formulate.v2":
        return farm_answer(user, correct="as a fraction" in user)
    if kind in ("formulate.v1", "repair.v1"):
        return farm_answer(user.split("Current formulation:")[0], correct=False)
    if kind == "repair.v2":  # the insights come again before the problem
        shown, _, rest = user.partition("Problem:")
        return farm_answer("Problem:" + rest.split("Current formulation:")[0],
                           correct="as a fraction" in shown)
    if kind == "review.v1":  # the semantic review finds nothing: the rules test the library
        return {"requirements": [], "findings": []}
    if kind == "library_explore.v1":
        return farm_answer(user.split("The correct answer:")[0], correct=True)
    listed, _, problem = user.rpartition("Problem:")
    if kind == "library_check.v1":
        # A condition saying "at most" holds only for problems that say it.
        lines = [n for n in _numbered(listed, "percentage") if "at most" not in _line(listed, n)
                 or "at most" in problem.lower()]
        return {"applicable": lines if "%" in problem else []}
    if kind == "library_refine.v1":
        return {"conditions": REFINED}
    if kind == "library_example.v1":
        about_code = "addConstr" in user
        return {"applies": not about_code, "example": "" if about_code else PERCENT_EXAMPLE}
    if kind == "library_labels.v1":
        return {"labels": _numbered(listed, "percentage")}
    if kind == "library_diagnose.v1":
        return diagnosis_reply(user)
    if kind == "library_merge.v1":
        count = len([line for line in user.split("\n") if line[:1].isdigit() and ". (" in line])
        return {"merges": [{"members": list(range(1, count + 1)), "insight": percent_draft(
            "The problem caps a quantity at a percentage of a total or of another quantity.")}]}
    raise AssertionError(f"unexpected prompt {kind}")


def percent_draft(condition: str, useful: bool = True) -> dict:
    return {"stage": "General Formulation", "level1": "Constraint Formulation",
            "level2": "Percentage limits", "condition": condition,
            "explanation": USEFUL if useful else USELESS, "example": PERCENT_EXAMPLE}


def diagnosis_reply(user: str) -> dict:
    problem = user.split("Failing formulation:")[0]
    percent = farm_numbers(problem)[1]
    condition = (f"The statement limits one crop to at most a percentage (here {percent}%) "
                 "of the land.")
    return {"issues": ["the percentage is a whole number and the direction is >="],
            "shown": [], "unretrieved": [],
            "insights": [percent_draft(condition, useful="orchard" not in problem)]}
