"""Resuming an evaluation and guarding its run directory: a complete last record without
its newline is kept, blank lines are skipped, records of foreign uids are not counted,
the dataset is recognised by its identity rather than the spelling of its path, a second
process on the same directory is refused, and damaged files or an empty dataset are
clear errors through the CLI (exit code 2, no traceback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from llm_server import ChatServer
from test_eval_runner import (
    PROBLEMS,
    QuestionBackend,
    cli_app,
    config,
    keyword_of,
    record_answers,
    round_of,
    scripted_reply,
    write_dataset,
)
from typer.testing import CliRunner

from nl2opt.datasets import load_dataset
from nl2opt.errors import DataError
from nl2opt.evaluation.records import EvaluationError, ResultsLog, read_results
from nl2opt.evaluation.run_dir import LOCK_FILE, run_lock
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.llm.spec import make_llm


@pytest.fixture
def finished_run(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl"))
    run_dir = tmp_path / "run"
    run_evaluation(dataset, QuestionBackend(), config(), run_dir)
    return dataset, run_dir, run_dir / "results.jsonl"


def test_a_complete_last_record_without_its_newline_is_kept(finished_run):
    dataset, run_dir, results = finished_run
    data = results.read_bytes()
    results.write_bytes(data.rstrip(b"\n"))
    assert len(read_results(run_dir)) == len(PROBLEMS)
    llm = QuestionBackend()
    resumed = run_evaluation(dataset, llm, config(), run_dir, resume=True)
    assert llm.calls == [] and len(resumed) == len(PROBLEMS)  # nothing recomputed
    assert results.read_bytes() == data  # the newline was added, nothing else changed


def test_a_torn_last_line_is_still_cut_and_redone(finished_run):
    dataset, run_dir, results = finished_run
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:-1]) + lines[-1][:50])
    assert len(read_results(run_dir)) == len(PROBLEMS) - 1
    llm = QuestionBackend()
    run_evaluation(dataset, llm, config(), run_dir, resume=True)
    assert llm.calls and len(results.read_text().splitlines()) == len(PROBLEMS)


def test_blank_lines_in_results_are_skipped(finished_run):
    dataset, run_dir, results = finished_run
    lines = results.read_text().splitlines(keepends=True)
    results.write_text(lines[0] + "\n  \n" + "".join(lines[1:-1]) + "\n")  # last one lost
    assert len(read_results(run_dir)) == len(PROBLEMS) - 1
    resumed = run_evaluation(dataset, QuestionBackend(), config(), run_dir, resume=True)
    assert sorted(r.uid for r in resumed) == sorted(f"toy/{k}" for k in PROBLEMS)


@pytest.mark.parametrize("bad", [b'{"uid": "toy/x"}', b"not json", b'{"uid": "\xff"}'])
def test_a_damaged_results_line_names_file_and_line(finished_run, bad):
    _, run_dir, results = finished_run
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(b"".join(lines[:2]) + bad + b"\n" + b"".join(lines[2:]))
    with pytest.raises(EvaluationError, match=r"results.jsonl:3 is not a result record") as e:
        read_results(run_dir)
    assert "Delete line 3" in str(e.value)


def test_records_of_uids_outside_the_run_are_not_counted(tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")
    recording = record_answers(tmp_path, dataset_path)
    out = tmp_path / "cli-run"
    command = ["eval", str(dataset_path), "--llm", f"replay:{recording}", "--rounds", "1",
               "--workers", "0", "--out", str(out), "--time-limit", "10"]
    assert CliRunner().invoke(cli_app(), command).exit_code == 0
    results = out / "results.jsonl"
    foreign = json.loads(results.read_text().splitlines()[0]) | {"uid": "toy/foreign"}
    results.write_text(results.read_text() + json.dumps(foreign) + "\n")
    resumed = CliRunner().invoke(cli_app(), command + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "(4/7 scored, 8 items)" in resumed.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["items"], summary["scored"], summary["ignored_records"]) == (8, 7, 1)
    assert "1 record(s) in results.jsonl are not items of this run" in (
        out / "report.md").read_text()
    dataset = load_dataset(dataset_path)
    records = run_evaluation(dataset, QuestionBackend(), config(llm=f"replay:{recording}"),
                             out, resume=True)
    assert "toy/foreign" not in {r.uid for r in records} and len(records) == 8


def test_resume_knows_the_dataset_by_identity_not_by_path(tmp_path, monkeypatch):
    dataset_path = write_dataset(tmp_path / "toy.jsonl", ["juice", "fence"])
    recording = record_answers(tmp_path, dataset_path)
    out = tmp_path / "run"

    def run(dataset, *extra):
        return CliRunner().invoke(cli_app(), [
            "eval", dataset, "--llm", f"replay:{recording}", "--rounds", "1", "--workers",
            "0", "--out", str(out), "--time-limit", "10", *extra])

    assert run(str(dataset_path.resolve()), "--limit", "1").exit_code == 0
    monkeypatch.chdir(tmp_path)
    resumed = run("toy.jsonl", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(read_results(out)) == 2
    # Another file (name or content) is refused, whatever its path.
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "other.jsonl").write_bytes(dataset_path.read_bytes())
    refused = run("copy/other.jsonl", "--resume")
    assert refused.exit_code == 2 and "dataset: 'toy' -> 'other'" in refused.output
    write_dataset(tmp_path / "copy" / "toy.jsonl", ["juice"])
    refused = run("copy/toy.jsonl", "--resume")
    assert refused.exit_code == 2 and "dataset file hash" in refused.output


def test_a_second_run_on_a_busy_directory_is_refused(tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl", ["juice", "fence"]))
    run_dir, refusals = tmp_path / "run", []

    class Intruder(QuestionBackend):
        def generate(self, requests):
            if not refusals:  # a second process starting on the same directory
                with pytest.raises(EvaluationError) as caught:
                    run_evaluation(dataset, QuestionBackend(), config(), run_dir, resume=True)
                refusals.append(str(caught.value))
            return super().generate(requests)

    run_evaluation(dataset, Intruder(), config(), run_dir)
    assert "in use by another evaluation (pid " in refusals[0]
    assert "--resume" in refusals[0]
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 2
    # The lock is released at the end (and when a run fails).
    run_evaluation(dataset, QuestionBackend(), config(), run_dir, resume=True)
    with pytest.raises(EvaluationError, match="already holds results"):
        run_evaluation(dataset, QuestionBackend(), config(), run_dir)
    with run_lock(run_dir):
        pass


def _eval_process(dataset_path, spec, out, log: Path) -> subprocess.Popen:
    code = ("import typer; from nl2opt.evaluation.eval_commands import register; "
            "app = typer.Typer(); register(app); app()")
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", code, "eval", str(dataset_path), "--llm", spec, "--rounds",
             "1", "--workers", "0", "--batch-size", "3", "--out", str(out), "--time-limit",
             "10", "--resume"], stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"})


def test_two_concurrent_resumes_in_subprocesses_write_each_item_once(tmp_path):
    dataset_path = write_dataset(tmp_path / "toy.jsonl")
    release, asked = threading.Event(), threading.Event()

    def answer(body):  # holds the first run inside its LLM call until the second has ended
        asked.set()
        release.wait(timeout=120)
        text = body["messages"][-1]["content"]
        return scripted_reply(keyword_of(text), round_of(text))

    out = tmp_path / "run"
    with ChatServer(answer) as server:
        spec = f"openai:test-model@{server.base_url}"
        release.set()
        run_evaluation(load_dataset(dataset_path, limit=3), make_llm(spec),
                       config(llm=spec), out)  # a run stopped after 3 items
        release.clear()
        asked.clear()
        first = _eval_process(dataset_path, spec, out, tmp_path / "first.log")
        try:
            assert asked.wait(timeout=120), (tmp_path / "first.log").read_text()
            second = _eval_process(dataset_path, spec, out, tmp_path / "second.log")
            assert second.wait(timeout=120) == 2
        finally:
            release.set()
            try:
                first.wait(timeout=120)
            except subprocess.TimeoutExpired:
                first.send_signal(signal.SIGKILL)
                raise
    assert first.returncode == 0, (tmp_path / "first.log").read_text()
    refused = (tmp_path / "second.log").read_text()
    assert "in use by another evaluation" in refused and "Traceback" not in refused
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(PROBLEMS) == len({json.loads(line)["uid"] for line in lines})
    assert (out / LOCK_FILE).exists()


# -- clear errors through the CLI -------------------------------------------------------

def _invoke(*args):
    result = CliRunner().invoke(cli_app(), [str(a) for a in args])
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no stray exception
    return result


@pytest.mark.parametrize("content", ['{"config": 3}', "{not json", ""])
def test_a_damaged_run_json_is_a_clear_error(finished_run, tmp_path, content):
    dataset, run_dir, _ = finished_run
    recording = record_answers(tmp_path, Path(dataset.path))
    (run_dir / "run.json").write_text(content)
    for args in (["eval", dataset.path, "--llm", f"replay:{recording}", "--out", run_dir,
                  "--resume", "--workers", "0"], ["report", run_dir]):
        result = _invoke(*args)
        assert result.exit_code == 2
        assert "run.json is damaged" in result.output and "new --out" in result.output


def test_a_damaged_results_line_is_a_clear_error_through_the_cli(finished_run, tmp_path):
    dataset, run_dir, results = finished_run
    lines = results.read_text().splitlines(keepends=True)
    results.write_text(lines[0] + '{"uid": 5}\n' + "".join(lines[1:]))
    recording = record_answers(tmp_path, Path(dataset.path))
    info = json.loads((run_dir / "run.json").read_text())
    info["config"]["llm"] = f"replay:{recording}"  # as if the run had used the recording
    (run_dir / "run.json").write_text(json.dumps(info))
    for args in (["eval", dataset.path, "--llm", f"replay:{recording}", "--out", run_dir,
                  "--resume", "--workers", "0", "--rounds", "1", "--time-limit", "10"],
                 ["report", run_dir]):
        result = _invoke(*args)
        assert result.exit_code == 2
        assert "results.jsonl:2 is not a result record" in result.output


def test_an_empty_dataset_or_selection_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="holds no dataset items"):
        load_dataset(empty)
    result = _invoke("eval", empty, "--llm", "replay:none", "--out", tmp_path / "a")
    assert result.exit_code == 2 and "holds no dataset items" in result.output
    dataset_path = write_dataset(tmp_path / "toy.jsonl", ["juice"])
    recording = record_answers(tmp_path, dataset_path)
    result = _invoke("eval", dataset_path, "--llm", f"replay:{recording}", "--limit", "0",
                     "--out", tmp_path / "b", "--workers", "0")
    assert result.exit_code == 2 and "no items to evaluate" in result.output


def test_results_log_completes_a_whole_last_record(tmp_path):
    from nl2opt.evaluation.records import EvalRecord

    record = EvalRecord(uid="u1", dataset="d", question_sha256="0" * 64)
    (tmp_path / "results.jsonl").write_text(record.model_dump_json())
    with ResultsLog(tmp_path) as log:
        log.append(record.model_copy(update={"uid": "u2"}))
    assert [r.uid for r in read_results(tmp_path)] == ["u1", "u2"]
