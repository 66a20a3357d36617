"""The Streamlit chat app, driven by streamlit.testing.v1.AppTest in demo/replay mode,
plus its UI-free parts (demo recordings, history, diff, charts, uploads, errors)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")

from streamlit.testing.v1 import AppTest  # noqa: E402
from typer import Typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from nl2opt.app import entry_file  # noqa: E402
from nl2opt.app.demo import (app_demo_backend, check_step, demo_conversations,  # noqa: E402
                             demo_options, load_answers, play, rebuild_recording,
                             recording_path)
from nl2opt.app.history import History  # noqa: E402
from nl2opt.llm.replay import load_records  # noqa: E402

BAKERY, FARM, PRODUCTION = demo_conversations()


# -- demo recordings -----------------------------------------------------------------------
def test_demo_recordings_still_match_the_current_prompts():
    """If this fails after a prompt or schema change: python -m nl2opt.app.demo"""
    llm = app_demo_backend()
    for conversation in demo_conversations():
        answers = play(conversation, llm, demo_options())
        for step, answer in zip(conversation.steps, answers, strict=True):
            check_step(conversation, step, answer)


def test_rebuilding_the_recording_gives_the_bundled_keys(tmp_path):
    rebuilt = rebuild_recording(tmp_path / "replay.jsonl")
    assert [r["key"] for r in load_records(rebuilt)] == \
        [r["key"] for r in load_records(recording_path())]


# -- AppTest flows -------------------------------------------------------------------------
def new_app() -> AppTest:
    app = AppTest.from_file(str(entry_file()), default_timeout=60)
    app.run()
    assert not app.exception
    return app


def metrics(app: AppTest) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for metric in app.metric:
        found.setdefault(metric.label.split(" (")[0], []).append(metric.value)
    return found


def page_text(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [e.value for e in app.error]
    parts += [w.value for w in app.warning] + [i.value for i in app.info]
    return "\n".join(parts)


def test_a_new_problem_is_formulated_solved_and_saved(db):
    app = new_app()
    assert "Try an example" in page_text(app) and app.button(key="example_bakery")
    app.chat_input(key="chat").set_value(BAKERY.problem).run()
    assert not app.exception
    assert metrics(app)["Objective"] == ["1,028.57"] and metrics(app)["Status"] == ["Optimal"]
    text = page_text(app)
    assert "Binding constraints" in text and "Formulating: asking the LLM" in text
    assert r"\sum" in text  # the model tab: the five elements in LaTeX
    assert app.get("download_button")  # the Pyomo script
    history = History(db)
    (conversation,) = history.list()
    assert [m.role for m in history.messages(conversation.id)] == ["user", "assistant"]
    assert conversation.problem == BAKERY.problem


def test_a_follow_up_revises_the_model_and_shows_what_changed(db):
    app = new_app()
    app.button(key="example_bakery").click().run()
    assert "What if we had 60 oven hours a day?" in app.button(key="followup").label
    app.chat_input(key="chat").set_value("What if we had 60 oven hours a day?").run()
    assert not app.exception
    assert metrics(app)["Objective"] == ["1,028.57", "1,414.29"]
    text = page_text(app)
    assert "What changed" in text and "parameter `available`" in text
    assert [m.delta for m in app.metric if m.label.startswith("Objective")][1].startswith("+385")
    app.button(key="followup").click().run()  # the second recorded follow-up
    assert metrics(app)["Objective"][-1] == "1,350"
    assert "constraint `bread_minimum`" in page_text(app)


def test_an_infeasible_case_is_explained_and_a_follow_up_fixes_it(db):
    app = new_app()
    app.button(key="example_farm").click().run()
    assert metrics(app)["Status"] == ["Infeasible"]
    text = page_text(app)
    assert "the model is infeasible" in text and "land\\_limit" in text
    assert "Repairing, round 3 of 3" in text
    app.button(key="followup").click().run()
    assert metrics(app)["Status"] == ["Infeasible", "Optimal"]
    assert metrics(app)["Objective"][-1] == "30,000"


def test_a_json_edit_is_re_solved_without_the_llm_and_bad_json_is_explained(db):
    app = new_app()
    app.button(key="example_bakery").click().run()
    (editor,) = [t for t in app.text_area if t.key.startswith("json_")]
    edited = json.loads(editor.value)
    edited["parameters"][2]["values"]["oven_hours"] = 60
    editor.set_value("{ bad json").run()
    app.button(key=editor.key.replace("json_", "resolve_")).click().run()
    assert any("The JSON is not valid" in e.value and "line 1" in e.value for e in app.error)
    assert len(History(db).messages(History(db).list()[0].id)) == 2  # nothing stored
    (editor,) = [t for t in app.text_area if t.key.startswith("json_")]
    editor.set_value(json.dumps(edited)).run()
    app.button(key=editor.key.replace("json_", "resolve_")).click().run()
    assert not app.exception
    assert metrics(app)["Objective"] == ["1,028.57", "1,414.29"]
    assert "Edited the formulation JSON" in page_text(app)


def test_history_survives_a_restart_and_can_be_renamed_and_deleted(db):
    first = new_app()
    first.button(key="example_bakery").click().run()
    conversation_id = History(db).list()[0].id
    again = new_app()  # a new session: as after a server restart
    assert "Try an example" in page_text(again)
    again.button(key=f"open_{conversation_id}").click().run()
    assert metrics(again)["Objective"] == ["1,028.57"]
    again.text_input(key=f"title_{conversation_id}").set_value("Bakery plan").run()
    again.button(key=f"rename_{conversation_id}").click().run()
    assert History(db).get(conversation_id).title == "Bakery plan"
    again.button(key=f"delete_{conversation_id}").click().run()
    assert History(db).list() == [] and not again.exception


def test_demo_mode_explains_that_unrecorded_messages_need_an_llm(db):
    app = new_app()
    app.chat_input(key="chat").set_value("Plan my week of meals cheaply.").run()
    assert any("Demo mode only knows the recorded example" in e.value for e in app.error)


def test_a_missing_vllm_gets_a_friendly_message(db):
    pytest.importorskip  # noqa: B018 (documentation: vllm must be absent for this test)
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here, so the missing-vLLM message cannot appear")
    app = new_app()
    app.sidebar.selectbox(key="llm_backend").set_value(
        "vLLM in this process (needs a GPU)").run()
    app.chat_input(key="chat").set_value("Maximize 3x + 2y with x + y <= 4.").run()
    assert not app.exception
    assert any("vLLM is not installed" in e.value for e in app.error)
    assert any("Demo mode" in i.value for i in app.info)


def test_uploaded_csv_data_reaches_the_model_through_a_csv_source(db, tmp_path):
    from nl2opt.app.turns import formulate_answer
    from nl2opt.app.uploads import current_data_dir, data_files, with_data
    from nl2opt.llm.replay import RecordingBackend
    from nl2opt.llm.scripted import ScriptedBackend
    from nl2opt.pipeline.run import PipelineOptions

    rows = "product,profit,hours\n" + "".join(f"p{k},{k},{1 + k % 3}\n" for k in range(40))
    app = new_app()
    app.sidebar.file_uploader[0].set_value(("products.csv", rows.encode(), "text/csv")).run()
    history = History(db)
    (conversation,) = history.list()
    folder = current_data_dir(history.data_dir(conversation.id))
    assert folder.name == "v1"
    assert [p.name for p in data_files(folder)] == ["products.csv"]
    text = "Choose products to maximize profit with 30 hours; at most 1 unit of each."
    problem = with_data(text, data_files(folder))
    assert "columns: product, profit, hours" in problem and "p3,3" in problem
    assert "p30," not in problem  # the LLM never sees the whole file
    answer = {"reasoning": "data from the CSV", "formulation": {
        "sets": [{"name": "P", "csv": {"path": "products.csv", "value_column": "product"}}],
        "parameters": [
            {"name": "profit", "index": ["P"], "csv": {"path": "products.csv",
             "index_columns": ["product"], "value_column": "profit"}},
            {"name": "hours", "index": ["P"], "csv": {"path": "products.csv",
             "index_columns": ["product"], "value_column": "hours"}}],
        "assumptions": ["Fractions are fine: x is a share of the planned batch."],
        "variables": [{"name": "x", "index": ["P"], "upper": 1, "description": "share made"}],
        "objective": {"sense": "maximize", "expression": "sum(profit[p] * x[p] for p in P)"},
        "constraints": [{"name": "time", "expression": "sum(hours[p] * x[p] for p in P) <= 30"}]}}
    recording = tmp_path / "upload.jsonl"
    recorded = formulate_answer(problem, RecordingBackend(ScriptedBackend([answer]), recording),
                                PipelineOptions(data_dir=str(folder)))
    assert recorded.termination == "optimal", recorded.error or recorded.warning
    app.sidebar.selectbox(key="llm_backend").set_value("Custom LLM spec").run()
    app.sidebar.text_input(key="custom_spec").set_value(f"replay:{recording}").run()
    app.chat_input(key="chat").set_value(text).run()
    assert not app.exception
    assert metrics(app).get("Status") == ["Optimal"], page_text(app)
    stored = history.messages(conversation.id)[-1].answer
    assert stored["result"]["objective"] > 300 and stored["formulation"]["sets"][0]["csv"]


# -- commands ------------------------------------------------------------------------------
def test_app_command_runs_streamlit_on_the_entry_file(tmp_path):
    from nl2opt.app.commands import register

    cli = Typer()
    register(cli)
    cli.command("noop")(lambda: None)  # typer needs two commands to keep the name
    result = CliRunner().invoke(cli, ["app", "--dry-run", "--port", "8765", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "-m streamlit run" in result.output and str(entry_file()) in result.output
    assert "--server.port 8765" in result.output and "--server.headless true" in result.output


def test_demo_answers_are_hand_written_files():
    assert {"bakery", "farm", "farm_rent_20", "production"} <= set(load_answers())


# -- UI-free parts -------------------------------------------------------------------------
def test_diff_names_added_removed_and_changed_elements():
    from nl2opt.app.diff import diff_formulations, solution_rows

    answers = load_answers()
    before = answers["bakery_oven_60"]["formulation"]
    after = json.loads(json.dumps(answers["bakery_min_bread"]["formulation"]))
    after["variables"][0]["type"] = "integer"
    after["parameters"] = [p for p in after["parameters"] if p["name"] != "profit"]
    lines = diff_formulations(before, after).markdown()
    assert "constraint `bread_minimum` added: `x['bread'] >= min_bread`" in lines
    assert "parameter `profit` removed" in lines
    assert "variable `x` changed (type): `x[P]: integer`" in lines
    assert diff_formulations(before, before).empty
    old = {"has_solution": True, "variables": {"x": {"values": [[["bread"], 2.0]]}}}
    new = {"has_solution": True, "variables": {"x": {"values": [[["bread"], 5.0]]}}}
    assert solution_rows(old, new) == [{"variable": "x[bread]", "before": 2.0, "after": 5.0,
                                        "change": 3.0}]


def test_charts_use_lines_over_time_and_bars_otherwise():
    from nl2opt.api import solve_formulation
    from nl2opt.app.charts import parameter_tables, variable_views
    from nl2opt.formulation.model import Formulation

    answers = load_answers()
    production = Formulation.model_validate(answers["production"]["formulation"])
    views = variable_views(production, solve_formulation(production))
    assert [(v.name, v.chart) for v in views] == [("make", "line"), ("stock", "line")]
    assert list(views[0].chart_data["make"]) == [460, 550, 550, 550, 500, 440]
    bakery = Formulation.model_validate(answers["bakery"]["formulation"])
    (view,) = variable_views(bakery, solve_formulation(bakery))
    assert view.chart == "bar" and list(view.chart_data.index) == ["bread", "cake"]
    scalars, tables = parameter_tables(bakery)
    assert scalars is None and tables[1][2].loc["flour_kg", "bread"] == 5


def test_uploads_keep_names_safe_and_say_what_is_wrong(tmp_path):
    from nl2opt.app.uploads import UploadError, excel_available, safe_name, save_upload

    assert safe_name("../../etc/passwd data.csv") == "passwd_data.csv"
    with pytest.raises(UploadError, match="only CSV and Excel"):
        save_upload("notes.txt", b"hello", tmp_path)
    with pytest.raises(UploadError, match="not UTF-8"):
        save_upload("latin.csv", "caf\xe9,1\n".encode("latin-1"), tmp_path)
    if excel_available():
        with pytest.raises(UploadError, match="could not be read as an Excel workbook"):
            save_upload("book.xlsx", b"not a workbook", tmp_path)
    else:
        with pytest.raises(UploadError, match="needs the openpyxl package"):
            save_upload("book.xlsx", b"PK", tmp_path)


def test_excel_uploads_become_csv_when_openpyxl_is_installed(tmp_path):
    pytest.importorskip("openpyxl", reason="Excel conversion needs openpyxl")
    import io

    import pandas as pd

    from nl2opt.app.uploads import save_upload

    buffer = io.BytesIO()
    pd.DataFrame({"product": ["a", "b"], "cost": [1.5, 2.0]}).to_excel(buffer, index=False)
    (written,) = save_upload("Costs 2024.xlsx", buffer.getvalue(), tmp_path)
    assert written.name == "Costs_2024.csv"
    assert written.read_text().splitlines() == ["product,cost", "a,1.5", "b,2.0"]


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
    stopped = SolveResult(termination=Termination.time_limit, has_solution=True)
    assert "time limit of 5 s" in time_limit_note(stopped, 5) and "may not be optimal" in \
        time_limit_note(stopped, 5)
    bad = edit_answer('{"variables": []}', None, None, PipelineOptions())
    assert "not a valid formulation" in bad.error and "objective" in bad.error
