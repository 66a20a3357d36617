"""Seeding from AlphaOPT's library: what is kept and dropped, examples rewritten and
insights verified on their (training) source tasks."""

from __future__ import annotations

import json

import pytest
from conftest import DATASETS
from library_helpers import farm_optimum, farm_problem
from library_rules import USEFUL, RuleLLM
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.library.alphaopt import import_alphaopt
from nl2opt.library.model import Stage, Status
from nl2opt.library.store import LibraryStore

ALPHAOPT = DATASETS / "alphaopt" / "experience_library" / "library.json"


def _record(insight_id, stage, example, tasks, explanation=USEFUL):
    return {"insight_id": insight_id, "taxonomy": {stage: {"Constraint Formulation": [
        "Percentage limits"]}},
        "condition": f"A quantity is capped at a percentage ({insight_id}).",
        "explanation": explanation, "example": example, "task_id": tasks, "iteration": 0,
        "version": 1, "occurrence": 0, "distribution": {"positive": ["T1"], "negative": [],
                                                         "unretrieved": [], "irrelevant": [],
                                                         "invalid": []}}


@pytest.fixture
def alphaopt_dir(tmp_path):
    """A tiny library.json in AlphaOPT's layout, with a training and a test split."""
    split = tmp_path / "optimization_tasks" / "split"
    split.mkdir(parents=True)
    train = [{"task_id": "T1", "description": farm_problem(100, 40, 500, 300),
              "ground_truth": farm_optimum(100, 40, 500, 300)}]
    (split / "toy_train.json").write_text(json.dumps(train))
    (split / "toy_test.json").write_text(json.dumps([{"task_id": "X9", "description": "?",
                                                      "ground_truth": 1.0}]))
    library = tmp_path / "experience_library" / "library.json"
    library.parent.mkdir()
    library.write_text(json.dumps([
        _record(1, "General Formulation", "x >= 40 * t", ["T1"]),
        _record(2, "Code Implementation", "model.addConstr(x >= 40)", ["T1"]),
        _record(3, "Domain Modeling", "x >= 40 * t", ["X9"]),
        _record(4, "General Formulation", "model.addConstr(x >= 0.4 * t)", ["T1"]),
        _record(5, "Domain Modeling", "x >= 40 * t", "T1", explanation="Be careful.")]))
    return library


def test_import_without_llm_keeps_model_insights_as_candidates(tmp_path, alphaopt_dir):
    with LibraryStore(tmp_path / "lib.sqlite") as store:
        summary = import_alphaopt(store, alphaopt_dir)
        assert len(summary.imported) == 3
        assert summary.dropped == {"Code Implementation (solver-API specific)": 1,
                                   "sourced from a test-split item": 1}
        insights = store.list()
        assert all(i.status is Status.candidate for i in insights)
        first = next(i for i in insights if i.provenance.upstream_id == "1")
        assert first.provenance.source_tasks == ["toy_train/T1"]
        assert first.stats.positive == ["toy_train/T1"]


def test_import_with_llm_rewrites_examples_and_verifies_on_source_tasks(tmp_path,
                                                                        alphaopt_dir):
    with LibraryStore(tmp_path / "lib.sqlite") as store:
        summary = import_alphaopt(store, alphaopt_dir, RuleLLM())
        by_upstream = {i.provenance.upstream_id: i for i in store.list()}
        assert by_upstream["1"].status is Status.verified
        assert "wheat <= 0.4" in by_upstream["1"].example and by_upstream["1"].version == 3
        assert by_upstream["4"].status is Status.retired  # its lesson is about solver code
        assert by_upstream["5"].status is Status.candidate  # did not fix its source task
        assert summary.verified == [by_upstream["1"].id]
        assert store.get_task("toy_train/T1") is not None


@pytest.mark.skipif(not ALPHAOPT.exists(), reason="AlphaOPT's data is not staged here")
def test_import_of_the_published_library(tmp_path):
    result = CliRunner().invoke(app, ["library", "import-alphaopt", str(ALPHAOPT),
                                      "--library", str(tmp_path / "lib.sqlite")])
    assert result.exit_code == 0, result.output
    assert "dropped 25: Code Implementation (solver-API specific)" in result.output
    with LibraryStore(tmp_path / "lib.sqlite") as store:
        insights = store.list()
        assert len(insights) == 114
        assert {i.taxonomy.stage for i in insights} == {Stage.domain, Stage.formulation}
