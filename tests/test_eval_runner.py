"""Batch evaluation runner: a full run of a hand-written slice with a fake LLM whose
answer depends on the question, results streamed to results.jsonl, kill -9 and
resume in a real subprocess, and the solve stage's limits."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from llm_server import ChatServer
from typer.testing import CliRunner

from nl2opt.datasets import load_dataset
from nl2opt.evaluation.eval_commands import register
from nl2opt.evaluation.item_record import failure_category
from nl2opt.evaluation.records import (
    EvalRecord,
    EvaluationError,
    ResultsLog,
    RunConfig,
    read_results,
)
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.evaluation.solve_stage import SolveJob, SolvePool, check_and_solve
from nl2opt.llm.replay import RecordingBackend
from nl2opt.llm.spec import make_llm
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage


def model(objective, constraints, variables=("a", "b"), sense="maximize", integer=False):
    return {"reasoning": "hand-written test answer", "formulation": {
        "variables": [{"name": v, "type": "integer" if integer else "continuous",
                       "description": "amount"} for v in variables],
        "objective": {"sense": sense, "expression": objective},
        "constraints": [{"name": f"c{k}", "expression": c} for k, c in enumerate(constraints)]}}


# Hand-written problems (never benchmark data): keyword -> (label, status, subset, replies).
# The answer in repair round r (0: the first formulation) to sample s of a request is
# replies[min(r + s, len - 1)]: stateless, so batching, order and resuming don't matter.
PROBLEMS = {
    "juice": (11.0, "optimal", "easy", [model("3*a + 2*b", ["a + b <= 4", "a <= 3"])]),
    "fence": (10.0, "optimal", "easy", [model("2*a", ["a >= 5", "a <= 3"], ["a"], "minimize"),
                                        model("2*a", ["a >= 5"], ["a"], "minimize")]),
    "riddle": (5.0, "optimal", "hard", ["I am not sure how to model this."]),
    "paint": (8.0, "optimal", "hard", [model("a", ["a >= 7"], ["a"], "minimize")]),
    "dragon": (None, "infeasible", "hard", [model("a", ["a >= 2", "a <= 1"], ["a"])]),
    "crates": (15.0, "optimal", "easy", [model("5*crates", ["2*crates <= 7"], ["crates"],
                                               integer=True)]),
    "garden": (None, "unlabeled", "easy", [model("a + b", ["a + 2*b <= 6", "a <= 2"])]),
    "ghost": (3.0, "optimal", "hard", [model("a + y", ["a <= 3"], ["a"])]),
}
EXPECTED_CATEGORY = {"juice": "correct", "fence": "correct", "riddle": "no_parse",
                     "paint": "wrong_objective", "dragon": "correct", "crates": "correct",
                     "garden": "unscored", "ghost": "invalid_formulation"}


def question(keyword: str) -> str:
    return f"Test problem about {keyword}: decide the amounts. Keyword {keyword}."


def write_dataset(path: Path, keywords=tuple(PROBLEMS)) -> Path:
    rows = [{"uid": f"toy/{k}", "dataset": "toy", "subset": PROBLEMS[k][2],
             "question": question(k), "answer": PROBLEMS[k][0], "answer_status": PROBLEMS[k][1]}
            for k in keywords]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def keyword_of(text: str) -> str:
    return next(k for k in PROBLEMS if f"Keyword {k}." in text)


def round_of(text: str) -> int:
    found = re.search(r"Problems found \(round (\d+)\)", text)
    return int(found.group(1)) if found else 0


def scripted_reply(keyword: str, index: int):
    replies = PROBLEMS[keyword][3]
    reply = replies[min(index, len(replies) - 1)]
    return reply if isinstance(reply, str) else json.dumps(reply)


class QuestionBackend:
    """A fake LLM whose answer depends on the question, so order and batching don't matter."""

    name, model = "fake", "fake-model"

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        self.calls.append(len(requests))
        answers = []
        for request in requests:
            text = request.messages[-1].content
            texts = [scripted_reply(keyword_of(text), round_of(text) + sample)
                     for sample in range(request.n)]
            answers.append([LLMResponse(text=t, finish_reason="stop", model=self.model,
                                        usage=Usage(prompt_tokens=100, completion_tokens=50))
                            for t in texts])
        return answers


def config(llm="fake", **changes) -> RunConfig:
    values = {"dataset": "toy", "llm": llm, "rounds": 1, "samples": 1, "time_limit": 10.0,
              "workers": 0, "batch_size": 4}
    values.update(changes)
    return RunConfig(**values)


def by_uid(records):
    return {r.uid: r for r in records}


def test_full_run_scores_categories_and_batches(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl"))
    llm = QuestionBackend()
    seen = []
    records = run_evaluation(dataset, llm, config(), tmp_path / "run", on_record=seen.append)
    assert [r.uid for r in seen] == [r.uid for r in records]
    assert sorted(r.uid for r in records) == sorted(f"toy/{k}" for k in PROBLEMS)
    assert {r.uid.split("/")[1]: r.category for r in records} == EXPECTED_CATEGORY
    found = by_uid(records)
    # Self-correction: fence was infeasible first and right after one repair.
    fence = found["toy/fence"]
    assert (fence.first_status, fence.first_correct) == ("infeasible", False)
    assert (fence.status, fence.objective, fence.correct, fence.attempts) == (
        "optimal", pytest.approx(10.0), True, 2)
    assert found["toy/juice"].attempts == 1 and found["toy/juice"].first_correct
    assert found["toy/crates"].problem_class == "MILP"
    assert found["toy/juice"].problem_class == "LP"
    assert found["toy/paint"].relative_error == pytest.approx(1 / 8)
    assert found["toy/garden"].scored is False
    assert found["toy/juice"].conventions == {"strict_1e-4": True, "rel_1e-6": True,
                                              "rel_5pct": True, "abs_0.1": True,
                                              "round2": True}
    assert found["toy/juice"].prompt_tokens == 100
    assert found["toy/fence"].prompts[0].startswith("formulate.v3@")
    assert found["toy/juice"].dataset_file_hash == dataset.file_hash
    # Batching: round 0 asks for a whole chunk (4 items) in one generate() call.
    assert llm.calls[0] == 4 and max(llm.calls) == 4
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(PROBLEMS)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["dataset_file_hash"] == dataset.file_hash and run["finished_at"]


def test_labels_never_reach_the_llm(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice", "fence"]))

    class Spy(QuestionBackend):
        def generate(self, requests):
            for request in requests:
                text = json.dumps([m.content for m in request.messages])
                assert "answer_status" not in text and "toy/" not in text
            return super().generate(requests)

    run_evaluation(dataset, Spy(), config(), tmp_path / "run")


def test_samples_vote_and_agreement(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice", "fence"]))
    records = by_uid(run_evaluation(dataset, QuestionBackend(), config(samples=3, rounds=0),
                                    tmp_path / "run"))
    juice, fence = records["toy/juice"], records["toy/fence"]
    assert juice.agreement == 1.0 and len(juice.samples) == 3 and juice.correct
    # fence: the 1st sample is infeasible, the 2nd and 3rd optimal (replies[1]).
    assert [s.termination for s in fence.samples] == ["infeasible", "optimal", "optimal"]
    assert fence.agreement == pytest.approx(2 / 3) and fence.correct


def test_a_failing_llm_request_fails_alone_and_a_retryable_one_stops_the_run(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice", "fence", "paint"]))

    class Flaky(QuestionBackend):
        retryable = False

        def generate(self, requests):
            if any("Keyword fence." in r.messages[-1].content for r in requests):
                raise LLMError("context too long", retryable=self.retryable)
            return super().generate(requests)

    records = by_uid(run_evaluation(dataset, Flaky(), config(), tmp_path / "run"))
    assert records["toy/fence"].category == "llm_error"
    assert "context too long" in records["toy/fence"].error
    assert records["toy/juice"].correct and records["toy/paint"].category == "wrong_objective"
    Flaky.retryable = True
    with pytest.raises(LLMError, match="context too long"):
        run_evaluation(dataset, Flaky(), config(), tmp_path / "run2")
    assert read_results(tmp_path / "run2") == []  # the whole chunk stopped; resume redoes it


def test_resume_after_torn_line_neither_loses_nor_duplicates(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl"))
    clean = run_evaluation(dataset, QuestionBackend(), config(), tmp_path / "clean")
    run_dir = tmp_path / "run"
    run_evaluation(dataset, QuestionBackend(), config(), run_dir)
    results = run_dir / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:3]) + lines[3][:40])  # a kill mid-write
    assert len(read_results(run_dir)) == 3
    with pytest.raises(EvaluationError, match="--resume"):
        run_evaluation(dataset, QuestionBackend(), config(), run_dir)
    resumed = run_evaluation(dataset, QuestionBackend(), config(), run_dir, resume=True)
    assert len(results.read_text().splitlines()) == len(PROBLEMS)
    assert sorted(r.uid for r in resumed) == sorted(r.uid for r in clean)
    assert {r.uid: r.stable() for r in resumed} == {r.uid: r.stable() for r in clean}
    with pytest.raises(EvaluationError, match="rounds"):
        run_evaluation(dataset, QuestionBackend(), config(rounds=2), run_dir, resume=True)


def test_results_log_cuts_torn_tail_before_appending(tmp_path):
    record = EvalRecord(uid="u1", dataset="d", question_sha256="0" * 64)
    (tmp_path / "results.jsonl").write_text(record.model_dump_json() + "\n{\"uid\": \"u2")
    with ResultsLog(tmp_path) as log:
        log.append(record.model_copy(update={"uid": "u3"}))
    assert [r.uid for r in read_results(tmp_path)] == ["u1", "u3"]
    (tmp_path / "results.jsonl").write_text("not json\n" + record.model_dump_json() + "\n")
    with pytest.raises(EvaluationError, match=":1 is not a result record"):
        read_results(tmp_path)


@pytest.mark.parametrize("status, scored, correct, failure, expected", [
    (None, True, False, None, "no_parse"), (None, True, False, "compile_error", "compile_error"),
    (None, True, False, None, "llm_error"), ("optimal", True, True, None, "correct"),
    ("unbounded", True, False, None, "unbounded"), ("time_limit", True, False, None, "timeout"),
    ("error", True, False, "solver_error", "solver_error"),
    ("infeasible_or_unbounded", True, False, None, "infeasible"),
])
def test_failure_categories(status, scored, correct, failure, expected):
    llm_error = "boom" if expected == "llm_error" else ""
    assert failure_category(status, scored, correct, failure, llm_error) == expected


def test_solve_stage_in_worker_processes_matches_inline():
    jobs = [SolveJob(id=k, formulation=json.loads(scripted_reply(kw, 0))["formulation"],
                     time_limit=10.0) for k, kw in enumerate(["juice", "dragon", "ghost"])]
    with SolvePool(workers=2, memory_mb=4096, time_limit=10.0) as pool:
        pooled = pool.run(jobs)
    inline = [check_and_solve(job) for job in jobs]
    for one, other in zip(pooled, inline):
        assert (one.stage, one.failure, one.problems) == (other.stage, other.failure,
                                                          other.problems)
    assert pooled[0].result.objective == pytest.approx(11.0)
    assert pooled[1].result.termination.value == "infeasible"
    assert pooled[2].failure == "invalid_formulation"


def test_solve_stage_memory_limit_fails_one_job_alone():
    # 16 million quadratic terms (under the size limit) need more than 1.5 GB to compile;
    # ordinary models (and the solver's threads, which reserve address space) fit well
    # within it.
    huge = {"sets": [{"name": "I", "range": [1, 4_000]}],
            "variables": [{"name": "x", "index": ["I"]}],
            "objective": {"sense": "minimize",
                          "expression": "sum(x[i] for i in I) * sum(x[j] for j in I)"},
            "constraints": []}
    small = json.loads(scripted_reply("juice", 0))["formulation"]
    with SolvePool(workers=1, memory_mb=1500, time_limit=10.0) as pool:
        outcomes = pool.run([SolveJob(0, huge), SolveJob(1, small, time_limit=10.0)])
    assert outcomes[0].failure == "solver_error"
    assert "more memory" in outcomes[0].problems[0] or "crashed" in outcomes[0].problems[0]
    assert outcomes[1].result is not None and outcomes[1].result.objective == pytest.approx(11)


def test_watchdog_stops_an_overrunning_job_and_keeps_the_rest():
    # 100k chained constraints take seconds to build; the watchdog allows 0.5 s.
    slow = {"sets": [{"name": "I", "range": [1, 100_000]}],
            "variables": [{"name": "x", "index": ["I"], "upper": 1}],
            "objective": {"sense": "maximize", "expression": "sum(x[i] for i in I)"},
            "constraints": [{"name": "pair", "forall": ["i in I"], "where": "i > 1",
                             "expression": "x[i] + x[i-1] <= 1"}]}
    small = json.loads(scripted_reply("juice", 0))["formulation"]
    started = time.monotonic()
    with SolvePool(workers=1, grace_seconds=0.5) as pool:
        outcomes = pool.run([SolveJob(0, slow), SolveJob(1, small)])
    assert outcomes[0].failure == "timeout"
    assert outcomes[0].result.termination.value == "time_limit" and not outcomes[0].problems
    assert outcomes[1].result.objective == pytest.approx(11.0)
    assert time.monotonic() - started < 30


# -- the CLI, in process and in a real subprocess -------------------------------------

def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def record_answers(tmp_path, dataset_path, **options) -> Path:
    """Record the fake LLM's answers for exactly the requests a run makes."""
    recording = tmp_path / "llm.jsonl"
    llm = RecordingBackend(QuestionBackend(), recording)
    run_evaluation(load_dataset(dataset_path), llm, config(**options), tmp_path / "recorded")
    return recording


def test_eval_command_with_replayed_llm(tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")
    recording = record_answers(tmp_path, dataset_path)
    out = tmp_path / "cli-run"
    result = CliRunner().invoke(cli_app(), [
        "eval", str(dataset_path), "--llm", f"replay:{recording}", "--rounds", "1",
        "--workers", "0", "--out", str(out), "--time-limit", "10"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output.lower()
    records = by_uid(read_results(out))
    assert {uid.split("/")[1]: r.category for uid, r in records.items()} == EXPECTED_CATEGORY
    assert records["toy/juice"].llm == f"replay:{recording}"
    summary = json.loads((out / "summary.json").read_text())  # written at the end of a run
    assert (summary["items"], summary["scored"], summary["correct"]) == (8, 7, 4)
    assert summary["first_attempt_accuracy"] == pytest.approx(3 / 7)
    assert (out / "report.html").read_text().count("<svg") == 5


def _subprocess_eval(dataset_path, spec, out, log: Path, *extra) -> subprocess.Popen:
    code = ("import typer; from nl2opt.evaluation.eval_commands import register; "
            "app = typer.Typer(); register(app); app()")
    # Output goes to a file: after kill -9 a pipe could stay open in orphaned helpers.
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", code, "eval", str(dataset_path), "--llm", spec, "--rounds",
             "1", "--workers", "1", "--batch-size", "3", "--out", str(out), "--time-limit", "10",
             *extra], stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})


def assert_resumed_equals_clean(out: Path, clean) -> list:
    """Nothing lost, nothing duplicated: the resumed run's records equal a clean run's,
    timings aside, one line each."""
    records = read_results(out)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(records) == len(PROBLEMS)
    assert {r.uid.split("/")[1]: r.category for r in records} == EXPECTED_CATEGORY
    assert {r.uid: r.stable() for r in records} == {r.uid: r.stable() for r in clean}
    return records


def test_kill_9_then_resume_in_a_subprocess(tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")

    def answer(body):  # slow enough that the run can be killed mid-way
        time.sleep(0.05)
        text = body["messages"][-1]["content"]
        return scripted_reply(keyword_of(text), round_of(text))

    out = tmp_path / "run"
    with ChatServer(answer) as server:
        spec = f"openai:test-model@{server.base_url}"
        process = _subprocess_eval(dataset_path, spec, out, tmp_path / "first.log")
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        written = len(read_results(out))
        assert 1 <= written < len(PROBLEMS)
        resumed = _subprocess_eval(dataset_path, spec, out, tmp_path / "resumed.log",
                                   "--resume")
        assert resumed.wait(timeout=120) == 0, (tmp_path / "resumed.log").read_text()
        # A clean run against the same server, for comparison.
        clean = run_evaluation(load_dataset(dataset_path), make_llm(spec),
                               config(llm=spec, workers=1, batch_size=8), tmp_path / "clean")
    assert_resumed_equals_clean(out, clean)
    run = json.loads((out / "run.json").read_text())
    assert len(run["resumed_at"]) == 1 and run["finished_at"]
