"""Formulation data paths stay inside their data folder, and CSV faults are located
errors (issue 9, items 2 and 5): every hostile path is refused with a clear message that
never quotes a file from outside the folder, through the library, the CLI and the
copilot loop's repair feedback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.errors import DataError
from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.model import Formulation, load_formulation
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.pipeline.run import PipelineOptions, solve_text

SECRET = "TOPSECRET-7f3a"
runner = CliRunner()


def set_formulation(path: str) -> dict:
    """A model whose set P is read from the CSV file `path` (column x)."""
    return {"sets": [{"name": "P", "csv": {"path": path, "value_column": "x"}}],
            "variables": [{"name": "y", "index": ["P"], "upper": 1}],
            "objective": {"sense": "maximize", "expression": "sum(y[p] for p in P)"}}


@pytest.fixture
def root(tmp_path):
    """A data folder with good files and traps, next to a secret outside it."""
    folder, outside = tmp_path / "project", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{SECRET}\n{SECRET}-row\n")
    (folder / "good.csv").write_text("x,v\na,1\nb,2\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.csv").write_text("x\nc\n")
    (folder / "alias.csv").symlink_to(folder / "good.csv")  # a link that stays inside
    (folder / "link.csv").symlink_to(outside / "secret.csv")
    (folder / "zero.csv").symlink_to("/dev/zero")
    (folder / "dotdot.csv").symlink_to("../outside/secret.csv")
    os.mkfifo(folder / "pipe.csv")
    (folder / "latin.csv").write_bytes("x\ncaf\xe9\n".encode("latin-1"))
    (folder / "wide.csv").write_text("x\nshort\n" + "w" * 140_000 + "\n")
    return folder


def hostile_paths(root) -> dict[str, str]:
    """{path as written in the formulation: what the refusal says}."""
    return {"/proc/self/environ": "is an absolute path",
            str(root.parent / "outside" / "secret.csv"): "is an absolute path",
            "/dev/zero": "is an absolute path",
            "../outside/secret.csv": "goes above the data folder",
            "sub/../../outside/secret.csv": "goes above the data folder",
            "link.csv": "is a link to a file outside the data folder",
            "dotdot.csv": "is a link to a file outside the data folder",
            "zero.csv": "is a link to a file outside the data folder",
            "pipe.csv": "is a FIFO (named pipe), not a regular file",
            "sub": "is a folder, not a regular file",
            "missing.csv": "is not in the data folder",
            "latin.csv": "is not UTF-8 text (line 2, byte 0xe9)",
            "wide.csv": "line 3: a field is longer than 131,072 characters"}


def refusal(root, path: str) -> str:
    model = Formulation.model_validate(set_formulation(path)).with_data_dir(root)
    with pytest.raises(DataError) as caught:
        resolve_data(model)
    return str(caught.value)


def assert_no_leak(text: str) -> None:
    assert SECRET not in text
    assert os.environ.get("PATH", "PATH=") not in text  # /proc/self/environ


def test_every_hostile_path_is_refused_without_echoing_content(root):
    for path, reason in hostile_paths(root).items():
        message = refusal(root, path)
        assert message.startswith("set 'P': data file ") and reason in message, (path, message)
        assert_no_leak(message)
    assert "CSV files there: 'good.csv'" in refusal(root, "missing.csv")  # names, not content


def test_paths_that_stay_inside_the_folder_are_read(root):
    for path, elements in {"good.csv": ("a", "b"), "alias.csv": ("a", "b"),
                           "sub/inner.csv": ("c",), "sub/../good.csv": ("a", "b"),
                           "./good.csv": ("a", "b")}.items():
        model = Formulation.model_validate(set_formulation(path)).with_data_dir(root)
        assert resolve_data(model).sets["P"].elements == elements, path


def test_without_a_data_folder_no_file_is_read(root):
    model = load_formulation(set_formulation(str(root / "good.csv")))
    assert model.data_dir is None
    with pytest.raises(DataError, match="no data folder is known.*--data-dir.*with_data_dir"):
        resolve_data(model)
    with pytest.raises(DataError, match="no data folder is known"):
        resolve_data(load_formulation(json.dumps(set_formulation("good.csv"))))


def test_size_cap_refuses_large_files(root, monkeypatch):
    (root / "big.csv").write_text("x\n" + "a\n" * 4000)
    monkeypatch.setenv("NL2OPT_MAX_DATA_MB", "0.001")
    message = refusal(root, "big.csv")
    assert "is 7.8 KB, over the 1.0 KB limit for data files" in message
    assert "NL2OPT_MAX_DATA_MB" in message
    monkeypatch.setenv("NL2OPT_MAX_DATA_MB", "lots")
    assert "is not a number of megabytes" in refusal(root, "good.csv")


def test_csv_faults_are_located_errors_quoting_little(root):
    assert refusal(root, "latin.csv") == (
        "set 'P': data file 'latin.csv' is not UTF-8 text (line 2, byte 0xe9); save it as "
        "'CSV UTF-8' and try again")
    message = refusal(root, "wide.csv")
    assert "data file 'wide.csv', line 3: a field is longer than 131,072 characters" in message
    assert "www" not in message
    (root / "cols.csv").write_text("[bold]q\x1b[31m," + "c" * 500 + "\nz,1\n")
    message = refusal(root, "cols.csv")
    assert "has no column(s) 'x'; its columns are '[bold]q\\x1b[31m', 'ccc" in message
    assert "\x1b" not in message and len(message) < 300


def test_short_rows_and_long_values_are_located(root):
    (root / "values.csv").write_text("x,v\na,1\nb\n")
    model = Formulation.model_validate({
        **set_formulation("good.csv"),
        "parameters": [{"name": "v", "index": ["P"],
                        "csv": {"path": "values.csv", "index_columns": ["x"],
                                "value_column": "v"}}]}).with_data_dir(root)
    with pytest.raises(DataError, match="parameter 'v': data file 'values.csv', line 3 has "
                                        "no value in column 'v'"):
        resolve_data(model)
    (root / "values.csv").write_text(f"x,v\na,{'9' * 50_000}z\nb,2\n")
    with pytest.raises(DataError) as caught:
        resolve_data(model)
    assert "parameter 'v'['a']: '999" in str(caught.value) and len(str(caught.value)) < 200


# -- the CLI -------------------------------------------------------------------------------
def write_model(folder, path: str):
    target = folder / f"model_{abs(hash(path))}.json"
    target.write_text(json.dumps(set_formulation(path)))
    return target


@pytest.mark.parametrize("command", ["check", "solve", "code"])
def test_cli_refuses_hostile_paths(root, command, monkeypatch):
    for path, reason in hostile_paths(root).items():
        result = runner.invoke(app, [command, str(write_model(root, path))])
        assert result.exit_code in (1, 2), (path, result.output)
        assert reason in result.output, (path, result.output)
        assert_no_leak(result.output)
    monkeypatch.setenv("NL2OPT_MAX_DATA_MB", "0.01")
    result = runner.invoke(app, [command, str(write_model(root, "wide.csv"))])
    assert result.exit_code in (1, 2) and "over the 10.2 KB limit" in result.output


def test_check_does_not_print_the_environment_of_a_real_process(root):
    """The reported case: /proc/self/environ printed an API key."""
    environment = {**os.environ, "NL2OPT_FAKE_API_KEY": SECRET}
    result = subprocess.run([sys.executable, "-m", "nl2opt.cli", "check",
                             str(write_model(root, "/proc/self/environ"))],
                            capture_output=True, text=True, env=environment,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 1
    assert "data file '/proc/self/environ' is an absolute path" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_data_dir_option_chooses_the_folder(root, tmp_path):
    model = tmp_path / "elsewhere.json"
    model.write_text(json.dumps(set_formulation("good.csv")))
    assert runner.invoke(app, ["check", str(model)]).exit_code == 1
    result = runner.invoke(app, ["solve", str(model), "--data-dir", str(root)])
    assert result.exit_code == 0 and "objective = 2" in result.output


def test_terminal_output_shows_data_literally(root):
    (root / "odd.csv").write_text("x\nroot:x:0:0\n[bold]b\n\x1b[31mred\n:x: done\n")
    result = runner.invoke(app, ["solve", str(write_model(root, "odd.csv"))])
    assert result.exit_code == 0, result.output
    for shown in ("root:x:0:0", "[bold]b", "\\x1b[31mred", ":x: done"):
        assert shown in result.output, shown
    assert "\x1b" not in result.output and "❌" not in result.output
    described = root / "described.json"
    described.write_text(json.dumps({**set_formulation("odd.csv"),
                                     "description": "clears\x1b[2Jthe screen"}))
    for command in ("code", "render"):
        printed = runner.invoke(app, [command, str(described)]).output
        assert "clears\\x1b" in printed and "\x1b" not in printed, command


# -- the copilot loop ----------------------------------------------------------------------
def test_refusals_become_repair_feedback_and_the_repair_reads_the_data(root):
    hostile = hostile_paths(root)
    answers = [{"reasoning": "read the data", "formulation": set_formulation(path)}
               for path in [*hostile, "good.csv"]]
    llm = ScriptedBackend(answers)
    options = PipelineOptions(data_dir=str(root), rounds=len(hostile))
    report = solve_text("Pick items.", llm, options)
    assert report.result is not None and report.objective == 2
    for attempt, reason, request in zip(report.attempts, hostile.values(), llm.requests[1:]):
        assert any(reason in problem for problem in attempt.problems), attempt.problems
        assert reason in request.messages[-1].content  # the repair prompt says why
    prompts = "".join(m.content for request in llm.requests for m in request.messages)
    assert_no_leak(report.model_dump_json() + prompts)


def test_without_a_data_folder_the_loop_asks_for_inline_data(root):
    """Evaluation and the plain API give no data folder: no file is read, whatever the path."""
    answers = [{"formulation": set_formulation(path)}
               for path in ("/proc/self/environ", str(root / "good.csv"), "good.csv", "x.csv")]
    llm = ScriptedBackend(answers)
    report = solve_text("Pick items.", llm, PipelineOptions())
    assert report.result is None
    for attempt in report.attempts:
        assert any("no data folder is known" in p and "inline" in p for p in attempt.problems)
    assert_no_leak(report.model_dump_json())


def test_evaluation_reads_no_data_file(tmp_path, monkeypatch):
    """`nl2opt eval` has no data folder: what the LLM names is never read into results."""
    from llm_server import ChatServer

    (tmp_path / "secret.csv").write_text(f"{SECRET}\n{SECRET}-row\n")
    monkeypatch.chdir(tmp_path)  # a relative path once resolved against the working folder
    dataset = tmp_path / "toy.jsonl"
    dataset.write_text(json.dumps({"uid": "toy/1", "question": "Pick items.", "answer": 2,
                                   "answer_status": "optimal"}) + "\n")
    replies = [{"formulation": set_formulation(path)}
               for path in ("secret.csv", "/proc/self/environ")]
    with ChatServer(replies) as server:
        result = runner.invoke(app, ["eval", str(dataset), "--llm",
                                     f"openai:test-model@{server.base_url}", "--rounds", "1",
                                     "--workers", "0", "--out", str(tmp_path / "run"),
                                     "--no-report"])
    assert result.exit_code == 0, result.output
    results = (tmp_path / "run" / "results.jsonl").read_text()
    assert "no data folder is known" in results
    assert_no_leak(results + result.output + json.dumps(server.requests))
