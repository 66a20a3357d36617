"""The library everywhere: `nl2opt solve/formulate/eval --library`, and the API's `library=`,
through a real OpenAI-compatible HTTP server."""

from __future__ import annotations

import json

from library_helpers import (
    PERCENT_CONDITION,
    PERCENT_EXPLANATION,
    farm_answer,
    farm_optimum,
    farm_problem,
    insight,
)
from llm_server import ChatServer
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app
from nl2opt.evaluation.records import read_results, read_run_info
from nl2opt.library.store import LibraryStore

runner = CliRunner()


def _library(path) -> str:
    with LibraryStore(path) as store:
        return store.add(insight(PERCENT_CONDITION, explanation=PERCENT_EXPLANATION)).id


def _reply(body: dict):
    """A fake model: it checks conditions by keyword and formulates right only when the
    prompt shows the percentage insight."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "Decide for each one whether its condition holds" in system:
        return {"applicable": [1] if "%" in user.split("Problem:")[-1] else []}
    return farm_answer(user, correct=PERCENT_CONDITION in user)


def test_solve_with_library_shows_and_records_the_insight(tmp_path):
    insight_id = _library(tmp_path / "lib.sqlite")
    problem = farm_problem(100, 40, 500, 300)
    with ChatServer(_reply) as server:
        spec = f"openai:test-model@{server.base_url}"
        result = runner.invoke(app, ["solve", problem, "--llm", spec, "--library",
                                     str(tmp_path / "lib.sqlite"), "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["result"]["objective"] == farm_optimum(100, 40, 500, 300)
        assert report["attempts"][0]["insight_ids"] == [insight_id]
        assert report["attempts"][0]["prompt_id"] == "formulate.v4"
        plain = runner.invoke(app, ["solve", problem, "--llm", spec, "--rounds", "0"])
        assert plain.exit_code == 0 and "infeasible" in plain.output
        assert "insights used" not in plain.output


def test_formulate_and_api_take_a_library(tmp_path):
    path = tmp_path / "lib.sqlite"
    insight_id = _library(path)
    problem = farm_problem(50, 30, 400, 200)
    with ChatServer(_reply) as server:
        spec = f"openai:test-model@{server.base_url}"
        result = runner.invoke(app, ["formulate", problem, "--llm", spec, "--library", str(path)])
        assert result.exit_code == 0 and "0.3 * (corn + wheat)" in result.stdout
        with LibraryStore(path) as store:
            report = nl2opt.solve(problem, llm=spec, library=store)
        assert report.insight_ids == [insight_id]
        assert report.objective == farm_optimum(50, 30, 400, 200)


def test_eval_with_library_records_insights_per_item(tmp_path):
    path = tmp_path / "lib.sqlite"
    insight_id = _library(path)
    dataset = tmp_path / "farms.jsonl"
    rows = [{"uid": f"farm{k}", "question": farm_problem(*numbers),
             "answer": farm_optimum(*numbers)}
            for k, numbers in enumerate([(100, 40, 500, 300), (80, 25, 600, 100)])]
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with ChatServer(_reply) as server:
        result = runner.invoke(app, ["eval", str(dataset), "--llm",
                                     f"openai:test-model@{server.base_url}", "--library",
                                     str(path), "--workers", "0", "--out", str(tmp_path / "run"),
                                     "--no-report"])
    assert result.exit_code == 0, result.output
    records = read_results(tmp_path / "run")
    assert [r.correct for r in records] == [True, True]
    assert all(r.insight_ids == [insight_id] for r in records)
    assert read_run_info(tmp_path / "run").config.library == str(path)


def test_eval_repairs_show_the_library_insights_again(tmp_path):
    """In an evaluation, a repair round asks with repair.v3: the insights of the item's
    first request, shown again beside the feedback (and recorded on the attempt)."""
    path = tmp_path / "lib.sqlite"
    insight_id = _library(path)
    dataset = tmp_path / "farms.jsonl"
    numbers = (100, 40, 500, 300)
    dataset.write_text(json.dumps({"uid": "farm0", "question": farm_problem(*numbers),
                                   "answer": farm_optimum(*numbers)}) + "\n")
    asked = []

    def reply(body: dict):
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "Decide for each one whether its condition holds" in system:
            return {"applicable": [1]}
        asked.append(user)
        if len(asked) == 1:
            return "Sure! Here is the model: {oops"  # unreadable: a repair round follows
        return farm_answer(user, correct=PERCENT_CONDITION in user)

    with ChatServer(reply) as server:
        result = runner.invoke(app, ["eval", str(dataset), "--llm",
                                     f"openai:test-model@{server.base_url}", "--library",
                                     str(path), "--workers", "0", "--out", str(tmp_path / "run"),
                                     "--no-report", "--no-review"])
    assert result.exit_code == 0, result.output
    [record] = read_results(tmp_path / "run")
    assert record.correct and len(asked) == 2
    assert PERCENT_CONDITION in asked[1] and "no JSON object" in asked[1]
    assert [p.split("@")[0] for p in record.prompts] == ["formulate.v4", "repair.v3"]
    assert record.insight_ids == [insight_id]
