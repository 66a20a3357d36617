"""The app's settings, connections, errors and history (issue 15, items 4 and 6): settings
that persist, an API key that does not, "test connection", errors naming the real cause
first, demo mode that stays usable, and deleting only after a confirmation."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")

from app_helpers import metrics, new_app, objectives, page_text, run
from llm_server import ChatServer

from nl2opt.app.demo import demo_conversations
from nl2opt.app.history import History

BAKERY = demo_conversations()[0]
SERVER = "OpenAI-compatible server (vLLM, Ollama, ...)"


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def test_settings_survive_a_new_session_and_come_back_with_a_conversation(db):
    app = new_app()
    run(app.sidebar.selectbox(key="solver").set_value("scip"))
    run(app.sidebar.number_input(key="time_limit").set_value(30.0))
    run(app.button(key="example_bakery").click())  # this conversation ran with scip, 30 s
    run(app.sidebar.selectbox(key="solver").set_value("highs"))
    again = new_app()  # a new browser session (or a reload)
    assert again.sidebar.selectbox(key="solver").value == "highs"  # the last used
    conversation = History(db).list()[0]
    assert conversation.settings["solver"] == "scip"
    run(again.button(key=f"open_{conversation.id}").click())
    assert again.sidebar.selectbox(key="solver").value == "scip"
    assert again.sidebar.number_input(key="time_limit").value == 30.0


def test_the_api_key_stays_in_the_session_and_connection_tests_name_model_and_time(db):
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    with ChatServer(["ready"]) as server:
        run(app.sidebar.text_input(key="server_url").set_value(server.base_url))
        run(app.sidebar.text_input(key="server_model").set_value("test-model"))
        run(app.sidebar.text_input(key="api_key").set_value("sk-secret-123"))
        run(app.sidebar.button(key="test_connection").click())
    (success,) = app.sidebar.success
    assert success.value.startswith("Connected: test-model answered in ")
    assert server.requests and "sk-secret-123" not in db.read_bytes().decode("utf-8", "replace")
    assert new_app().sidebar.selectbox(key="llm_backend").value == SERVER  # remembered ...
    assert History(db).preference("settings")["server_model"] == "test-model"


def test_a_server_that_is_down_is_reported_at_once_with_a_clear_next_step(db):
    app = new_app()
    url = f"http://127.0.0.1:{closed_port()}/v1"
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    run(app.sidebar.text_input(key="server_url").set_value(url))
    run(app.sidebar.button(key="test_connection").click())
    assert f"cannot connect to the LLM server at {url}" in app.sidebar.error[0].value
    started = time.monotonic()
    run(app.chat_input(key="chat").set_value("Maximize 3x + 2y with x + y <= 4."))
    assert time.monotonic() - started < 10  # a bound against hanging, not a timing target
    (error,) = app.error
    assert error.value.startswith(f"The LLM server is not reachable: cannot connect to the LLM "
                                  f"server at {url}")
    (hint,) = app.info
    assert hint.value.startswith("Start the server (for example \\`ollama serve\\`")
    assert "). Check the server URL in the sidebar (the Test connection button" in hint.value


def test_demo_mode_stays_usable_after_leaving_and_returning(db):
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value("Custom LLM spec"))
    assert app.button(key="example_bakery")  # the examples stay (they go to the LLM)
    run(app.sidebar.selectbox(key="llm_backend").set_value("Demo (recorded examples, no GPU)"))
    run(app.button(key="example_bakery").click())
    assert objectives(app) == ["$1,028.57"]


def test_a_typed_problem_in_demo_mode_is_told_apart_and_gets_the_examples(db):
    app = new_app()
    run(app.chat_input(key="chat").set_value("Plan my week of meals cheaply."))
    assert app.error[0].value.startswith("Demo mode only knows the recorded example")
    assert "Pick one of the examples below" in app.info[0].value
    examples = [b for b in app.button if b.key and b.key.startswith("example_bakery_m")]
    run(examples[0].click())
    assert objectives(app) == ["$1,028.57"]


def test_the_real_cause_comes_first_when_the_solver_cannot_take_the_model(db):
    app = new_app()
    run(app.sidebar.selectbox(key="solver").set_value("cpsat"))
    run(app.button(key="example_bakery").click())
    message = app.error[0].value
    assert message.startswith("The model could not be used as it was:")
    assert "the model is LP but solver 'cpsat' supports only MILP" in message.split(". ")[0]
    assert "Choose the solver 'automatic'" in app.info[0].value


def test_uploads_do_not_break_the_recorded_examples(db):
    app = new_app()
    app.sidebar.file_uploader[0].set_value(("prices.csv", b"item,price\na,1\n", "text/csv"))
    run(app)
    run(app.button(key="example_bakery").click())
    assert objectives(app) == ["$1,028.57"]
    steps = History(db).messages(History(db).list()[0].id)[-1].answer["steps"]
    assert steps[0].startswith("Demo mode: the recorded examples bring their own data")


def test_a_missing_vllm_gets_a_friendly_message(db):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here, so the missing-vLLM message cannot appear")
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value("vLLM in this process (needs a GPU)"))
    run(app.chat_input(key="chat").set_value("Maximize 3x + 2y with x + y <= 4."))
    assert any("vLLM is not installed" in e.value for e in app.error)
    assert any("Demo mode" in i.value for i in app.info)


def test_history_survives_a_restart_and_delete_asks_first(db):
    first = new_app()
    run(first.button(key="example_bakery").click())
    run(first.button(key="new_conversation").click())
    run(first.button(key="example_bakery").click())
    titles = [c.title for c in History(db).list()]
    assert sorted(titles) == ["Bakery production plan", "Bakery production plan (2)"]
    conversation_id = History(db).list()[0].id
    again = new_app()  # a new session: as after a server restart
    assert "Try an example" in page_text(again)
    run(again.button(key=f"open_{conversation_id}").click())
    assert metrics(again)["Status"] == ["Optimal"]
    run(again.text_input(key=f"title_{conversation_id}").set_value("Bakery plan"))
    run(again.button(key=f"rename_{conversation_id}").click())
    assert History(db).get(conversation_id).title == "Bakery plan"
    run(again.button(key=f"delete_{conversation_id}").click())
    assert History(db).get(conversation_id) is not None  # not yet: it asks first
    assert "This cannot be undone" in again.warning[0].value
    run(again.button(key=f"delete_no_{conversation_id}").click())
    assert History(db).get(conversation_id) is not None
    run(again.button(key=f"delete_{conversation_id}").click())
    run(again.button(key=f"delete_yes_{conversation_id}").click())
    assert History(db).get(conversation_id) is None and len(History(db).list()) == 1


def test_failures_get_friendly_messages():
    import httpx
    import openai

    from nl2opt.app.turns import edit_answer, friendly_error, time_limit_note
    from nl2opt.llm.openai_backend import translate_error
    from nl2opt.pipeline.run import PipelineOptions
    from nl2opt.solvers.result import SolveResult, Termination

    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    unreachable = translate_error(openai.APIConnectionError(request=request),
                                  base_url="http://127.0.0.1:9/v1", model="m")
    message, hint = friendly_error(unreachable)
    assert "not reachable" in message and "127.0.0.1:9" in message and "Demo" in hint
    assert hint.startswith("Is the server running") and "`ollama serve`). Check" in hint
    stopped = SolveResult(termination=Termination.time_limit, has_solution=True)
    assert "time limit of 5 s" in time_limit_note(stopped, 5) and "may not be optimal" in \
        time_limit_note(stopped, 5)
    bad = edit_answer('{"variables": []}', None, None, PipelineOptions())
    assert "not a valid formulation" in bad.error and "objective" in bad.error


def test_review_findings_are_shown_in_the_steps_and_the_llm_text_streams(db):
    from app_helpers import last_answer_key, open_tab

    model = {"reasoning": "x is at most 40% of the total", "formulation": {
        "name": "Share limit", "variables": [{"name": "x"}, {"name": "y"}],
        "objective": {"sense": "maximize", "expression": "3 * x + 2 * y"},
        "constraints": [{"name": "total", "expression": "x + y <= 4"},
                        {"name": "share", "expression": "x <= 0.4 * (x + y)"}]}}
    verdict = {"requirements": [{"requirement": "x at most 40% of x + y",
                                 "encoded_in": "constraint 'share'"}],
               "findings": [{"kind": "other", "element": "constraint 'total'",
                             "problem": "'at most 4' may mean the total of x and y",
                             "change": "keep x + y <= 4"}]}
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    with ChatServer([model, verdict, model]) as server:
        run(app.sidebar.text_input(key="server_url").set_value(server.base_url))
        run(app.chat_input(key="chat").set_value(
            "Maximize 3 x + 2 y with x + y at most 4 and x at most 40% of x + y."))
    assert objectives(app) == ["9.6"]
    assert [body.get("stream") for body in server.requests] == [True] * 3  # shown as written
    steps = page_text(open_tab(app, last_answer_key(db), "Steps"))
    assert "**Semantic review**" in steps and "may mean the total of x and y" in steps
