"""The Streamlit chat app, driven by streamlit.testing.v1.AppTest in demo/replay mode
(issue 15): answers in the user's words, follow-ups answered by the solver, infeasibility
with verified repairs, exports, edits; plus the demo recordings and the UI-free parts."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")

from app_helpers import last_answer_key, metrics, new_app, objectives, open_tab, page_text, run
from typer import Typer
from typer.testing import CliRunner

from nl2opt.app import entry_file
from nl2opt.app.demo import (
    app_demo_backend,
    check_step,
    demo_conversations,
    demo_options,
    load_answers,
    play,
    rebuild_recording,
    recording_path,
)
from nl2opt.app.history import History
from nl2opt.llm.replay import load_records

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
def test_a_new_problem_is_answered_in_the_users_words_and_saved(db):
    app = new_app()
    assert "Try an example" in page_text(app) and app.button(key="example_bakery")
    run(app.chat_input(key="chat").set_value(BAKERY.problem))
    assert metrics(app)["Profit"] == ["$1,028.57"] and metrics(app)["Status"] == ["Optimal"]
    text = page_text(app)
    assert "The best plan's profit is \\$1,028.57, the highest possible." in text
    assert "bread = 17.14, cake = 11.43" in text and "oven hours at 40" in text
    assert "x[bread]" not in text and "Binding" not in text
    assert "Formulating: asking the LLM" not in text  # Steps is drawn only when opened
    key = last_answer_key(db)
    assert r"\sum" in page_text(open_tab(app, key, "Model"))
    exported = open_tab(app, key, "Code & export").get("download_button")
    assert len(exported) == 7  # JSON, LP, MPS, LaTeX, CSV, Excel, Pyomo
    assert "Formulating: asking the LLM" in page_text(open_tab(app, key, "Steps"))
    history = History(db)
    (conversation,) = history.list()
    assert [m.role for m in history.messages(conversation.id)] == ["user", "assistant"]
    assert conversation.problem == BAKERY.problem
    assert conversation.title == "Bakery production plan"  # the model's name
    assert app.button(key=f"open_{conversation.id}").label.startswith(
        "Bakery production plan · ")  # ... with its date


def test_follow_ups_are_answered_by_solver_backed_tools(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    assert app.button(key="followup").label == "Try a follow-up: “What is one more oven hour " \
                                               "worth?”"
    run(app.button(key="followup").click())  # sensitivity
    text = page_text(app)
    assert ("One more unit of oven hours is worth \\$19.29 of profit, while that limit stays "
            "between 24 and 80 (it is 40 now).") in text
    assert "flour kg is worth \\$2.14" in text and "between 60 and 200" in text
    run(app.button(key="followup").click())  # what if: 60 oven hours
    assert "+\\$385.71, better than now" in page_text(app)
    run(app.button(key="followup").click())  # why not: 20 cakes
    assert "\\$900 (-\\$128.57, worse than now: that is its cost)" in page_text(app)
    assert objectives(app) == ["$1,028.57"]  # questions leave the model as it was
    run(app.button(key="followup").click())  # a revision: 60 oven hours
    assert objectives(app) == ["$1,028.57", "$1,414.29"]
    assert "parameter `available` :orange[**changed**]: oven hours: 40 → 60" in page_text(app)
    assert [m.delta for m in app.metric if m.label.startswith("Profit")][1] == \
        "+$385.71 vs before"
    run(app.button(key="followup").click())
    assert objectives(app)[-1] == "$1,350" and "constraint `bread_minimum`" in page_text(app)


def test_a_what_if_can_become_the_model(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    run(app.chat_input(key="chat").set_value("What if we had 60 oven hours a day?"))
    run(app.button(key=f"adopt_{last_answer_key(db)}").click())
    assert objectives(app) == ["$1,028.57", "$1,414.29"]
    assert "Kept: available for oven hours: 40 → 60" in page_text(app)


def test_an_infeasible_plan_shows_the_conflict_and_one_click_repairs(db):
    app = new_app()
    run(app.button(key="example_farm").click())
    assert metrics(app)["Status"] == ["Infeasible"]
    assert [e.value for e in app.error][0] == ("At least 60 (wheat) + 50 (corn) = 110 acres "
                                               "are required, but at most 100 acres are "
                                               "available.")
    text = page_text(app)
    assert "Raise land from 100 to 110 acres (+10 acres)" in text
    assert "Lower minimum acres required by contracts for corn from 50 to 40 acres" in text
    assert "+1\\*plant" not in text and "None" not in text
    key = last_answer_key(db)
    run(app.button(key=f"repair_{key}_0").click())
    assert metrics(app)["Status"] == ["Infeasible", "Optimal"]
    assert objectives(app)[-1] == "$27,000"
    assert "Applied: Raise land from 100 to 110 acres" in page_text(app)
    assert "None" not in page_text(app)  # the before/after table of an infeasible start


def test_a_json_edit_is_re_solved_without_the_llm_and_bad_json_is_explained(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    key = last_answer_key(db)
    open_tab(app, key, "Edit JSON")
    editor = app.text_area(key=f"json_{key}")
    edited = json.loads(editor.value)
    edited["parameters"][2]["values"]["oven_hours"] = 60
    run(editor.set_value("{ bad json"))
    run(app.button(key=f"resolve_{key}").click())
    assert any("The JSON is not valid" in e.value and "line 1" in e.value for e in app.error)
    assert len(History(db).messages(History(db).list()[0].id)) == 2  # nothing stored
    run(app.text_area(key=f"json_{key}").set_value(json.dumps(edited)))
    run(app.button(key=f"resolve_{key}").click())
    assert objectives(app) == ["$1,028.57", "$1,414.29"]
    assert "Edited the formulation JSON" in page_text(app) and "None" not in page_text(app)


def test_regenerate_answers_the_last_message_again_and_copy_shows_the_text(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    key = last_answer_key(db)
    assert "The best plan's profit is $1,028.57" in app.code[0].value  # the Copy popover
    run(app.button(key=f"regenerate_{key}").click())
    messages = History(db).messages(History(db).list()[0].id)
    assert [m.role for m in messages] == ["user", "assistant"] and f"m{messages[1].id}" != key
    assert objectives(app) == ["$1,028.57"]


def test_old_answers_keep_their_details_behind_an_expander(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    first = last_answer_key(db)
    run(app.button(key="followup").click())
    run(app.button(key="followup").click())
    run(app.button(key="followup").click())
    run(app.button(key="followup").click())  # a revision: the first answer is now old
    assert not [t for t in app.tabs if t.key == f"tabs_{first}"]
    app.session_state[f"details_{first}"] = True
    run(app)
    assert len(app.tabs) > 0 and objectives(app) == ["$1,028.57", "$1,414.29"]


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
    assert {"bakery", "farm", "farm_unchanged", "production", "route_revise"} <= \
        set(load_answers())


# -- UI-free parts -------------------------------------------------------------------------
def test_diff_names_elements_and_shows_old_and_new_values():
    from nl2opt.app.diff import diff_formulations

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
    oven = diff_formulations(answers["bakery"]["formulation"], before).markdown()
    assert oven == "- parameter `available` changed: oven hours: 40 → 60"


def test_charts_use_lines_over_time_and_bars_otherwise_with_titled_level_axes():
    from nl2opt.api import solve_formulation
    from nl2opt.app.charts import parameter_tables, variable_views
    from nl2opt.app.solution_view import chart_of
    from nl2opt.formulation.model import Formulation

    answers = load_answers()
    production = Formulation.model_validate(answers["production"]["formulation"])
    views = variable_views(production, solve_formulation(production))
    assert [(v.name, v.chart) for v in views] == [("make", "line"), ("stock", "line")]
    assert list(views[0].chart_data["make"]) == [460, 550, 550, 550, 500, 440]
    bakery = Formulation.model_validate(answers["bakery"]["formulation"])
    (view,) = variable_views(bakery, solve_formulation(bakery))
    assert view.chart == "bar" and list(view.chart_data.index) == ["bread", "cake"]
    spec = chart_of(view).to_dict()
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == 0
    assert spec["encoding"]["x"]["title"] == "P (products)"
    assert spec["encoding"]["y"]["title"] == "batches per day"
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


def test_interpretation_alternatives_are_a_clarifying_choice_the_user_can_click(db):
    app = new_app()
    run(app.button(key="example_production").click())
    assert "**The statement leaves a choice open:** whether the stock left after the last " \
           "month pays the holding cost" in page_text(app)
    choices = app.table[0].value
    assert list(choices["answer"]) == ["34,575", "34,500"]
    (choose,) = [b for b in app.button if b.key and b.key.startswith("variant_")]
    assert choose.label == "Use “the stock left after month 6 is free”"
    run(choose.click())
    assert objectives(app) == ["$34,575", "$34,500"]
    assert "Chose: the stock left after month 6 is free" in page_text(app)
