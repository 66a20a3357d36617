"""The app's data: uploads are versioned so every saved answer re-solves with the data it
was made with, hostile data paths written by the LLM are refused without echoing any file
(issue 9, items 2 and 9), and `nl2opt app` never waits for terminal input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")

from app_helpers import new_app, objectives
from llm_server import ChatServer

from nl2opt.api import solve_formulation
from nl2opt.app.history import History
from nl2opt.app.state import ConversationView
from nl2opt.app.turns import Answer

SECRET = "TOPSECRET-9c1e"


def profit_model(path: str = "data.csv") -> dict:
    """The LLM's answer: choose products (at most one of each) to maximize profit."""
    source = {"path": path, "index_columns": ["product"], "value_column": "profit"}
    return {"reasoning": "profits come from the uploaded table", "formulation": {
        "sets": [{"name": "P", "csv": {"path": path, "value_column": "product"}}],
        "parameters": [{"name": "profit", "index": ["P"], "csv": source}],
        "variables": [{"name": "y", "index": ["P"], "upper": 1}],
        "objective": {"sense": "maximize", "expression": "sum(profit[p] * y[p] for p in P)"}}}


def use_server(app, server: ChatServer) -> None:
    app.sidebar.selectbox(key="llm_backend").set_value("Custom LLM spec").run()
    app.sidebar.toggle(key="review").set_value(False).run()  # no review verdicts scripted
    app.sidebar.text_input(key="custom_spec").set_value(
        f"openai:test-model@{server.base_url}").run()


def upload(app, name: str, text: str) -> None:
    app.sidebar.file_uploader[0].set_value((name, text.encode(), "text/csv")).run()
    assert not app.exception


def everything_shown(app) -> str:
    kinds = ("markdown", "error", "warning", "info", "caption", "code", "text", "exception")
    parts = [str(element.value) for kind in kinds for element in getattr(app, kind)]
    parts += [table.value.to_csv() for table in app.table]
    return "\n".join(parts)


def test_reuploading_data_keeps_earlier_answers_on_their_data(db):
    first_data = "product,profit\na,10\nb,20\n"
    second_data = "product,profit\na,100\nb,200\nc,300\n"
    app = new_app()
    with ChatServer([profit_model(), {"tool": "revise"}, profit_model()]) as server:
        use_server(app, server)
        upload(app, "data.csv", first_data)
        app.chat_input(key="chat").set_value("Which products should we make?").run()
        upload(app, "data.csv", second_data)
        app.chat_input(key="chat").set_value("We re-uploaded the data; solve again.").run()
    assert not app.exception
    assert objectives(app) == ["30", "600"]
    assert "a,100" in server.requests[2]["messages"][-1]["content"]  # the LLM saw the new file
    history = History(db)
    (conversation,) = history.list()
    view = ConversationView.load(history, conversation.id)
    answers = [answer for _, answer in view.answers()]
    assert [a.data_version for a in answers] == ["v1", "v2"]
    resolved = [solve_formulation(a.formulation_object(view.data_dir_for(a))).objective
                for a in answers]
    assert resolved == [30, 600]  # reopening the first answer re-solves to its objective
    first, second = (f"m{m.id}" for m in history.messages(conversation.id)
                     if m.role == "assistant")
    app.session_state[f"details_{first}"] = True
    for key in (first, second):
        app.session_state[f"tabs_{key}"] = "Data"
    app.run()
    data_tabs = [list(t.value["value"]) for t in app.table if t.value.index.name == "P"]
    assert data_tabs == [[10, 20], [100, 200, 300]]  # each answer's Data tab: its own data


def test_hostile_paths_from_the_llm_are_refused_without_leaking(db, tmp_path):
    (tmp_path / "secret.csv").write_text(f"{SECRET}\n{SECRET}-row\n")
    paths = ["/proc/self/environ", str(tmp_path / "secret.csv"), "../../../secret.csv",
             "../v1/../../../secret.csv"]
    app = new_app()
    with ChatServer([profit_model(path) for path in paths]) as server:
        use_server(app, server)
        upload(app, "data.csv", "product,profit\na,1\n")
        app.chat_input(key="chat").set_value("Which products should we make?").run()
    assert not app.exception
    repairs = [body["messages"][-1]["content"] for body in server.requests[1:]]
    assert "is an absolute path" in repairs[0] and "goes above the data folder" in repairs[2]
    shown = everything_shown(app)
    assert "goes above the data folder" in shown
    stored = db.read_bytes() + json.dumps(server.requests).encode()
    for text in (shown.encode(), stored):
        assert SECRET.encode() not in text
        assert os.environ["PATH"].encode() not in text


def test_stored_answers_from_before_versioning_read_the_conversation_folder(tmp_path):
    folder = tmp_path / "data" / "1"
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("product,profit\na,5\n")
    view = ConversationView(None, [], folder)
    answer = Answer(kind="formulate", formulation=profit_model()["formulation"])
    assert view.data_dir_for(answer) == folder
    assert solve_formulation(answer.formulation_object(folder)).objective == 5
    answer.data_version = "../../elsewhere"  # a tampered record stays in the folder
    assert view.data_dir_for(answer) == folder


def test_uploads_make_versions_that_never_change(tmp_path):
    from nl2opt.app.uploads import current_data_dir, data_files, save_upload

    folder = tmp_path / "conversation"
    (first,) = save_upload("data.csv", b"x\n1\n", folder)
    save_upload("other.csv", b"y\n2\n", folder)
    (third,) = save_upload("data.csv", b"x\n3\n", folder)
    assert [p.parent.name for p in (first, third)] == ["v1", "v3"]
    assert first.read_text() == "x\n1\n" and third.read_text() == "x\n3\n"
    assert [p.name for p in data_files(current_data_dir(folder))] == ["data.csv", "other.csv"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no staging left


def test_uploads_refuse_csv_faults_at_once(tmp_path, monkeypatch):
    from nl2opt.app.uploads import UploadError, save_upload

    with pytest.raises(UploadError, match="line 2: a field is longer than 131,072"):
        save_upload("wide.csv", b"x\n" + b"w" * 140_000 + b"\n", tmp_path)
    monkeypatch.setenv("NL2OPT_MAX_DATA_MB", "0.001")
    with pytest.raises(UploadError, match="over the 0.0 MB limit"):
        save_upload("big.csv", b"x\n" + b"1\n" * 2000, tmp_path)


# -- launching the app ---------------------------------------------------------------------
def test_app_command_never_prompts_and_runs_headless_without_a_browser():
    from nl2opt.app.commands import streamlit_command

    with_browser = " ".join(streamlit_command(8501, "127.0.0.1", browser=True))
    without = " ".join(streamlit_command(8501, "127.0.0.1", browser=False))
    for command in (with_browser, without):
        assert "--server.showEmailPrompt false" in command
        assert "--browser.gatherUsageStats false" in command
    assert "--server.headless true" in without


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def test_app_serves_when_started_without_a_terminal(tmp_path):
    """First run (no Streamlit credentials), stdin /dev/null, browser wanted: it serves."""
    port = _free_port()
    environment = {**os.environ, "HOME": str(tmp_path), "BROWSER": "true",
                   "NL2OPT_APP_DB": str(tmp_path / "app.db")}
    command = [sys.executable, "-m", "nl2opt.cli", "app", "--port", str(port)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=environment, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90  # a bound so a regression fails instead of hanging
        while not _healthy(port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _healthy(port), "the app did not start serving"
    finally:
        os.killpg(process.pid, 15)
        output = process.communicate(timeout=30)[0]
    assert "Email" not in output, output
