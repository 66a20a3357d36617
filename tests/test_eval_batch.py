"""Evaluation with the `batch:` backend: items whose requests wait for answers stay
unfinished, the run says what to run and stops with its own exit code, and resuming
after each batch takes every item further, until the run equals one made with all
answers at hand. The test plays `vllm run-batch`, answering DIR/requests.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_server import chat_completion
from test_eval_runner import (
    EXPECTED_CATEGORY,
    PROBLEMS,
    QuestionBackend,
    cli_app,
    config,
    keyword_of,
    model,
    round_of,
    scripted_reply,
    write_dataset,
)
from typer.testing import CliRunner

from nl2opt.datasets import load_dataset
from nl2opt.evaluation import solve_stage
from nl2opt.evaluation.eval_commands import PENDING_EXIT_CODE
from nl2opt.evaluation.records import EvaluationPending, read_results
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.evaluation.solve_cache import PENDING_SOLVES_FILE
from nl2opt.llm.batch import BatchBackend

MODEL = "test-model"


def run_batch(requests_path: Path, responses_path: Path, limit: int | None = None
              ) -> list[str]:
    """What `vllm run-batch` does, with the fake LLM's answers (same usage as
    QuestionBackend, all on the first choice as a server reports it). Answers the first
    `limit` queued requests only, when given. Returns the custom_ids it answered."""
    lines = []
    for line in requests_path.read_text().splitlines()[:limit]:
        request = json.loads(line)
        body = request["body"]
        text = body["messages"][-1]["content"]
        samples = body.get("n", 1)
        texts = [scripted_reply(keyword_of(text), round_of(text) + k) for k in range(samples)]
        completion = chat_completion(texts, model=body["model"], usage={
            "prompt_tokens": 100 * samples, "completion_tokens": 50 * samples})
        lines.append({"id": "batch", "custom_id": request["custom_id"], "error": None,
                      "response": {"status_code": 200, "request_id": "r", "body": completion}})
    responses_path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return [line["custom_id"] for line in lines]


def without_llm(records):
    return {r.uid: {k: v for k, v in r.stable().items() if k != "llm"} for r in records}


def count_solves(monkeypatch) -> list[int]:
    calls = []
    real = solve_stage.check_and_solve

    def counted(job):
        calls.append(job.id)
        return real(job)

    monkeypatch.setattr(solve_stage, "check_and_solve", counted)
    return calls


# Two samples whose repairs differ, so their requests can be answered in different batches:
# sample s answers replies[round + s]; three invalid models (y is undeclared), then a good one.
LADDER = (8.0, "optimal", "hard", [model("a + y", [f"a <= {k}"], ["a"]) for k in (5, 6, 7)]
          + [model("a", ["a <= 8"], ["a"])])


@pytest.mark.parametrize("samples, per_batch", [(1, None), (2, 1)])
def test_a_three_round_batch_evaluation_answered_batch_by_batch_equals_a_direct_run(
        tmp_path, monkeypatch, samples, per_batch):
    monkeypatch.setitem(PROBLEMS, "ladder", LADDER)
    dataset_path = write_dataset(tmp_path / "toy.jsonl", list(PROBLEMS))
    solves = count_solves(monkeypatch)
    direct = run_evaluation(load_dataset(dataset_path), QuestionBackend(),
                            config(rounds=3, samples=samples), tmp_path / "direct")
    direct_solves, solves[:] = len(solves), []

    batch_dir, out = tmp_path / "batch", tmp_path / "run"
    spec = f"batch:{batch_dir}#{MODEL}"
    command = ["eval", str(dataset_path), "--llm", spec, "--rounds", "3", "--samples",
               str(samples), "--workers", "0", "--batch-size", "4", "--time-limit", "10",
               "--out", str(out)]
    backend, answered, invocations = BatchBackend(batch_dir, MODEL), [], 0
    while True:
        result = CliRunner().invoke(cli_app(), command + (["--resume"] if invocations else []))
        invocations += 1
        assert "Traceback" not in result.output
        if result.exit_code == 0:
            break
        assert result.exit_code == PENDING_EXIT_CODE, result.output
        waiting = backend.requests_path.read_text().splitlines()
        assert f"wait for {len(waiting)} LLM request(s)" in result.output
        assert f"vllm run-batch -i {backend.requests_path} -o {backend.responses_path}" \
            in result.output
        assert f"--out {out} --resume" in result.output
        # Waiting items have no record; the run is not finished.
        assert len(read_results(out)) < len(PROBLEMS)
        assert json.loads((out / "run.json").read_text())["finished_at"] is None
        answered += run_batch(backend.requests_path, backend.responses_path, per_batch)
        assert invocations < 40, "the run does not advance"

    # Rounds 0..3 need four batches when each answers everything queued.
    assert invocations == 5 if per_batch is None else invocations > 5
    assert len(answered) == len(set(answered)), "a request was asked twice"
    records = read_results(out)
    assert len((out / "results.jsonl").read_text().splitlines()) == len(PROBLEMS)
    assert {r.uid.split("/")[1]: r.category for r in records} == EXPECTED_CATEGORY | {
        "ladder": "correct"}
    assert without_llm(records) == without_llm(direct)
    assert solves and len(solves) == direct_solves, "an answer was solved twice"
    assert not (out / PENDING_SOLVES_FILE).exists()
    assert json.loads((out / "run.json").read_text())["finished_at"]
    assert json.loads((out / "summary.json").read_text())["items"] == len(PROBLEMS)

    # An evaluation against the replayed answers (all present) gives the same records.
    replayed = run_evaluation(load_dataset(dataset_path), BatchBackend(batch_dir, MODEL),
                              config(llm=spec, rounds=3, samples=samples),
                              tmp_path / "replayed")
    assert without_llm(replayed) == without_llm(records)


def test_pending_items_stay_unfinished_and_other_items_go_on(tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl", ["juice", "fence", "paint"])
    dataset = load_dataset(dataset_path)
    batch = BatchBackend(tmp_path / "batch", MODEL)
    plain = config(llm="batch", review=False)  # a solved item would wait for its review
    with pytest.raises(EvaluationPending) as caught:
        run_evaluation(dataset, batch, plain, tmp_path / "run")
    assert (caught.value.waiting_items, caught.value.waiting_requests) == (3, 3)
    assert caught.value.records == [] and read_results(tmp_path / "run") == []
    # Only juice's and paint's first requests are answered: both finish, fence waits.
    lines = batch.requests_path.read_text().splitlines()
    keep = [line for line in lines if "Keyword fence." not in line]
    batch.requests_path.write_text("\n".join(keep) + "\n")
    run_batch(batch.requests_path, batch.responses_path)
    with pytest.raises(EvaluationPending) as caught:
        run_evaluation(dataset, batch, plain, tmp_path / "run", resume=True)
    assert [r.uid for r in caught.value.records] == ["toy/juice", "toy/paint"]
    assert (caught.value.waiting_items, caught.value.waiting_requests) == (1, 1)
    # fence's request was dropped from the queue above; it is queued again.
    assert "Keyword fence." in batch.requests_path.read_text()
    assert "vllm run-batch" in str(caught.value) and "--resume" in str(caught.value)
