"""The evaluation runner's semantic stages: a review round (batched, resumable with the
batch backend), interpretation alternatives scored against the label, and voting by
equivalence compared with voting by objective value; the report's new rows."""

from __future__ import annotations

import json

import pytest
from llm_server import chat_completion

from nl2opt.datasets import load_dataset
from nl2opt.evaluation.records import EvaluationPending, RunConfig
from nl2opt.evaluation.reporting import headline_rows, summarize_run
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.llm.batch import BatchBackend
from nl2opt.llm.types import LLMRequest, LLMResponse
from nl2opt.pipeline.run import PipelineOptions, formulation_request

NO_FINDINGS = {"requirements": [], "findings": []}


def model(objective, constraints, integer=False, variables=("a", "b")):
    return {"reasoning": "hand-written test answer", "formulation": {
        "variables": [{"name": v, "type": "integer" if integer else "continuous"}
                      for v in variables],
        "objective": {"sense": "maximize", "expression": objective},
        "constraints": [{"name": f"c{k}", "expression": c} for k, c in enumerate(constraints)]}}


JUICE = model("3*a + 2*b", ["a + b <= 4", "a <= 3"])
JUICE_WRONG = model("3*a + 2*b", ["a + b <= 4", "a <= 4"])  # 12 instead of 11
JUICE_FINDING = {"requirements": [], "findings": [{
    "kind": "wrong_coefficient", "element": "constraint 'c1'",
    "problem": "the text allows at most 3 units of a", "change": "use a <= 3"}]}
CRATES = {**model("2*a", ["4*a <= 15"], variables=("a",)), "alternatives": [{
    "choice": "whole or fractional crates", "primary": "fractional crates",
    "reason": "the text does not say crates are whole",
    "variants": [{"name": "whole crates", "variables": [{"name": "a", "type": "integer"}]}]}]}
QUESTIONS = {  # hand-written (never benchmark data): uid -> (question, label)
    "juice": (("Juice a earns 3 and juice b earns 2 per unit; make at most 4 units, of them "
              "at most 3 of a. Maximize revenue. Keyword juice."), 11.0),
    "crates": (("A crate earns 2 and needs 4 kg of fruit; there are 15 kg. Maximize "
               "earnings. Keyword crates."), 6.0),
}


def write_dataset(path, keywords=tuple(QUESTIONS)):
    rows = [{"uid": f"toy/{k}", "dataset": "toy", "question": QUESTIONS[k][0],
             "answer": QUESTIONS[k][1], "answer_status": "optimal"} for k in keywords]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def reply_for(request_text: str, prompt_id: str, sample: int = 0) -> dict:
    """The fake LLM: the answer depends on the problem and on the prompt."""
    keyword = next(k for k in QUESTIONS if f"Keyword {k}." in request_text)
    if prompt_id == "review.v1":
        return JUICE_FINDING if keyword == "juice" else NO_FINDINGS
    if keyword == "juice":
        return JUICE if prompt_id == "repair.v1" else JUICE_WRONG
    return CRATES


class PromptBackend:
    name, model = "fake", "fake-model"

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        return [[LLMResponse(text=json.dumps(reply_for(r.messages[-1].content, r.prompt_id,
                                                       s)), finish_reason="stop")
                 for s in range(r.n)] for r in requests]


def config(llm="fake", **changes) -> RunConfig:
    values = {"dataset": "toy", "llm": llm, "rounds": 2, "samples": 1, "time_limit": 10.0,
              "workers": 0, "batch_size": 8}
    return RunConfig(**{**values, **changes})


def test_review_round_repairs_and_the_report_shows_before_and_after(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl"))
    records = {r.uid: r for r in run_evaluation(dataset, PromptBackend(), config(),
                                                tmp_path / "run")}
    juice = records["toy/juice"]
    assert (juice.prereview_objective, juice.prereview_correct) == (pytest.approx(12), False)
    assert (juice.objective, juice.correct) == (pytest.approx(11), True)
    assert juice.review_enabled and juice.reviews == 1 and juice.review_findings == 1
    assert any(p.startswith("review.v1@") for p in juice.prompts)
    summary = summarize_run(list(records.values()))
    assert summary["before_review_accuracy"] == pytest.approx(0.0)
    assert summary["review"] == {"items": 2, "with_findings": 1, "answer_changed": 1,
                                 "fixed": 1, "broken": 0}
    rows = dict(headline_rows(summary))
    assert rows["Before / after the semantic review"].startswith("0.0% / 50.0%")


def test_alternatives_are_solved_in_the_pool_and_scored(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["crates"]))
    [crates] = run_evaluation(dataset, PromptBackend(), config(workers=1), tmp_path / "run")
    assert (crates.objective, crates.correct) == (pytest.approx(7.5), False)
    assert [(a["variant"], a["primary"], a["objective"], a["correct"])
            for a in crates.alternatives] == [("fractional crates", True, 7.5, False),
                                              ("whole crates", False, 6.0, True)]
    assert crates.alternative_matched
    rows = dict(headline_rows(summarize_run([crates])))
    assert rows["Label matched a non-primary interpretation"].startswith("1 of 1 items")


def test_no_review_when_switched_off(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice"]))
    [juice] = run_evaluation(dataset, PromptBackend(), config(review=False), tmp_path / "run")
    assert (juice.objective, juice.reviews, juice.review_enabled) == (
        pytest.approx(12), 0, False)
    assert summarize_run([juice])["before_review_accuracy"] is None


class SampledBackend(PromptBackend):
    """Three samples: another model first, then the right one twice, once rescaled."""

    def generate(self, requests):
        answers = []
        for request in requests:
            if request.prompt_id != "formulate.v3":
                answers += super().generate([request])
                continue
            replies = [model("3*a + 2*b", ["a + b <= 5", "a <= 3"]), JUICE,
                       model("0.003*a + 0.002*b", ["a + b <= 4", "a <= 3"])]
            answers.append([LLMResponse(text=json.dumps(r), finish_reason="stop")
                            for r in replies[:request.n]])
        return answers


def test_equivalence_voting_is_compared_with_objective_voting(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice"]))
    [juice] = run_evaluation(dataset, SampledBackend(), config(samples=3, review=False),
                             tmp_path / "run")
    assert juice.vote_method == "equivalence" and juice.correct
    assert sorted(len(c["samples"]) for c in juice.vote_classes) == [1, 2]
    assert (juice.objective_vote_objective, juice.objective_vote_correct) == (
        pytest.approx(13), False)
    rows = dict(headline_rows(summarize_run([juice])))
    assert rows["Voting by objective value / by equivalence"] == "0.0% / 100.0% over 1 items"


def answer_batch(directory):
    """What `vllm run-batch` would write for every queued request."""
    lines = []
    for line in (directory / "requests.jsonl").read_text().splitlines():
        item = json.loads(line)
        text = item["body"]["messages"][-1]["content"]
        prompt = "review.v1" if text.rstrip().endswith("Check the model against the problem.") \
            else "formulate.v3"
        lines.append({"id": "b", "custom_id": item["custom_id"], "error": None, "response": {
            "status_code": 200, "request_id": "r",
            "body": chat_completion([json.dumps(reply_for(text, prompt))], model="m")}})
    with (directory / "responses.jsonl").open("a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)


def test_a_pending_review_batch_leaves_the_item_unfinished_and_resume_continues(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["crates"]))
    batch = tmp_path / "batch"
    llm = BatchBackend(batch, "m")
    options = PipelineOptions(rounds=2)
    first = formulation_request(QUESTIONS["crates"][0], options)
    # The formulation round was answered by an earlier batch run; the review was not.
    (batch).mkdir()
    (batch / "responses.jsonl").write_text(json.dumps({
        "id": "b", "custom_id": first.key("m"), "error": None, "response": {
            "status_code": 200, "request_id": "r",
            "body": chat_completion([json.dumps(CRATES)], model="m")}}) + "\n")
    with pytest.raises(EvaluationPending, match="run-batch"):
        run_evaluation(dataset, llm, config("batch:m"), tmp_path / "run")
    assert not (tmp_path / "run" / "results.jsonl").read_text().strip()
    queued = (batch / "requests.jsonl").read_text()
    assert "Check the model against the problem." in queued
    answer_batch(batch)
    [crates] = run_evaluation(dataset, llm, config("batch:m"), tmp_path / "run", resume=True)
    assert crates.reviews == 1 and crates.objective == pytest.approx(7.5)


def test_eval_command_records_the_review_and_vote_options(tmp_path, monkeypatch):
    from test_eval_runner import cli_app
    from typer.testing import CliRunner

    dataset = write_dataset(tmp_path / "toy.jsonl", ["juice"])
    monkeypatch.setattr("nl2opt.llm.spec.make_llm", lambda spec: PromptBackend())
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), [
        "eval", str(dataset), "--llm", "fake", "--workers", "0", "--out", str(out),
        "--no-review", "--vote", "objective", "--rounds", "2"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "run.json").read_text())["config"]
    assert (config["review"], config["vote"]) == (False, "objective")
    assert "Before / after the semantic review" not in (out / "report.md").read_text()
