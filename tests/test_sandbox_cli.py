"""`nl2opt run-code`: bad options and inputs are clear errors (issue 9, item 7), and the
command refuses to run a script without OS isolation unless told --unsafe-no-isolation."""

from __future__ import annotations

import json
import os

import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.sandbox import bubblewrap

runner = CliRunner()
REPORTING = "nl2opt_report(status='optimal', objective=7200 / 7)\n"


def run_code(*args: str):
    return runner.invoke(app, ["run-code", *args])


def assert_clear_error(result, words: str) -> None:
    """Exit code 2, the message on stderr, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(REPORTING, encoding="utf-8")
    return path


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "-inf", "1e9"])
def test_unusable_timeouts_are_refused(script, timeout):
    result = run_code(str(script), "--timeout", timeout)
    assert_clear_error(result, "--timeout must be a number of seconds above 0")


def test_a_sub_second_timeout_runs_or_times_out_cleanly(script):
    result = run_code(str(script), "--timeout", "0.5")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 0:
        assert "sandbox: ok" in result.stdout
    else:  # a loaded machine: the interpreter did not start in half a second
        assert result.exit_code == 1 and "Stopped after 0.5 s" in result.stdout


def test_a_directory_is_not_a_script(tmp_path):
    assert_clear_error(run_code(str(tmp_path)), "is a directory")


def test_a_missing_script_is_a_clear_error(tmp_path):
    assert_clear_error(run_code(str(tmp_path / "nothing.py")), "No such file or directory")


def test_a_non_utf8_script_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes("print('café')\n".encode("latin-1"))
    assert_clear_error(run_code(str(path)), "is not UTF-8 text (byte 10 is 0xe9)")


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_devices_and_fifos_are_refused_without_reading(tmp_path, device):
    if device == "fifo":
        device = str(tmp_path / "pipe")
        os.mkfifo(device)  # reading it would wait forever for a writer
    assert_clear_error(run_code(device), "is not a regular file")


def test_an_oversized_script_is_refused(tmp_path):
    path = tmp_path / "huge.py"
    path.write_text("#" * (1024 * 1024 + 1))
    assert_clear_error(run_code(str(path)), "is larger than 1024 KB")


@pytest.mark.parametrize("content, words", [
    (b"{not json", "Invalid JSON"),
    (b'{"schema": "nl2opt.formulation/1", "objective": 3}', "is not a valid nl2opt formulation"),
    (b"\xff\xfe", "is not valid JSON"),
])
def test_an_invalid_against_formulation_is_a_clear_error(script, tmp_path, content, words):
    formulation = tmp_path / "f.json"
    formulation.write_bytes(content)
    assert_clear_error(run_code(str(script), "--against", str(formulation)), words)


@pytest.mark.parametrize("against", ["/dev/zero", "directory", "missing.json"])
def test_an_unreadable_against_formulation_is_a_clear_error(script, tmp_path, against):
    target = {"/dev/zero": "/dev/zero", "directory": str(tmp_path),
              "missing.json": str(tmp_path / "missing.json")}[against]
    assert_clear_error(run_code(str(script), "--against", target), "--against")


def test_an_unsolvable_against_formulation_is_a_clear_error(script, tmp_path):
    broken = json.loads((EXAMPLES / "bakery_lp.json").read_text())
    broken["objective"]["expression"] = "sum(profit[p] * y[p] for p in P)"  # no variable y
    formulation = tmp_path / "broken.json"
    formulation.write_text(json.dumps(broken))
    assert_clear_error(run_code(str(script), "--against", str(formulation)), "--against")


def test_without_isolation_run_code_refuses_and_says_how_to_install(script, tmp_path,
                                                                     monkeypatch):
    marker = tmp_path / "ran.txt"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + REPORTING)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here"))
    bubblewrap._probe.cache_clear()
    result = run_code(str(script))
    assert_clear_error(result, "bubblewrap (bwrap) is not installed")
    assert "apt-get install bubblewrap" in result.stderr
    assert "--unsafe-no-isolation" in result.stderr
    assert not marker.exists()


def test_unsafe_no_isolation_runs_the_script_with_a_warning(script, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here"))
    result = run_code(str(script), "--unsafe-no-isolation", "--against",
                      str(EXAMPLES / "bakery_lp.json"))
    assert result.exit_code == 0, result.output
    assert "runs without the OS sandbox" in result.stderr
    assert "sandbox: ok" in result.stdout
