"""Synthesis data model: families, instances, CSV tables, records that `nl2opt eval`
loads as a benchmark (CSV-backed answers resolve against the dataset's folder)."""

from __future__ import annotations

import json

import pytest

from nl2opt.datasets import load_dataset
from nl2opt.evaluation.records import RunConfig
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.formulation.model import Formulation
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.synthesis.families import get_family, select_families
from nl2opt.synthesis.family import SynthesisError
from nl2opt.synthesis.instance import InstanceSpec, make_instance
from nl2opt.synthesis.records import (
    Acceptance,
    JsonlLog,
    ProblemRecord,
    read_records,
)
from nl2opt.synthesis.store import write_tables
from nl2opt.synthesis.tables import externalize


def test_family_declares_sizes_statement_and_example():
    family = get_family("knapsack")
    assert family.size_names() == ["items"]
    assert "\\begin{align*}" in family.statement() and "capacity" in family.statement()
    assert "15 kg" in family.example
    with pytest.raises(SynthesisError, match="outside its range"):
        family.generate({"items": 10_000})
    with pytest.raises(SynthesisError, match="no size parameter"):
        family.generate({"bins": 3})
    with pytest.raises(SynthesisError, match="unknown family 'knapsak'"):
        select_families("knapsak,tsp")


def test_same_seed_same_formulation_other_seed_other_data():
    family = get_family("transportation")
    first, again = family.generate({"sources": 3}, 7), family.generate({"sources": 3}, 7)
    assert first.to_dict() == again.to_dict()
    assert family.generate({"sources": 3}, 8).to_dict() != first.to_dict()


def test_externalized_tables_solve_like_inline(tmp_path):
    import nl2opt

    builder = get_family("transportation").builder({"sources": 4, "customers": 6}, 1)
    inline = builder.formulation()
    stored, tables = externalize(inline, "data/t1", builder.labels, threshold=5)
    assert [t.path for t in tables] == ["data/t1/customer.csv", "data/t1/plant_customer.csv"]
    assert tables[1].columns == ("plant", "customer", "cost") and tables[1].rows == 24
    write_tables(tmp_path, tables)
    reread = Formulation.model_validate(stored.to_dict()).with_data_dir(tmp_path)
    assert nl2opt.solve_formulation(reread).objective == pytest.approx(
        nl2opt.solve_formulation(inline).objective)


def test_instance_record_has_label_complexity_and_files():
    generated = make_instance(InstanceSpec("knapsack-00001", "knapsack", {"items": 60}, 3,
                                           tables="auto"))
    record = generated.record
    assert record.answer_status == "optimal" and record.answer > 0
    assert record.problem_class == "MILP" and record.complexity["n_bin"] == 60
    assert record.data_files == ["data/knapsack-00001/item.csv"]
    assert record.generator.sizes == {"items": 60} and record.generator.seed == 3
    assert record.formulation["parameters"][0]["csv"]["path"] == record.data_files[0]


def _problem(record, question: str) -> ProblemRecord:
    return ProblemRecord(uid=record.uid, question=question, formulation=record.formulation,
                         data_files=record.data_files, answer=record.answer,
                         answer_status=record.answer_status,
                         problem_class=record.problem_class, family=record.family,
                         generator=record.generator,
                         acceptance=Acceptance(accepted=True, rule="equivalence"))


def test_problems_jsonl_is_an_eval_benchmark_with_csv_data(tmp_path, monkeypatch):
    dataset = tmp_path / "synthetic"
    generated = make_instance(InstanceSpec("knapsack-00001", "knapsack", {"items": 50}, 5,
                                           tables="files"))
    write_tables(dataset, generated.tables)
    text = "Pack items; weights and values are in data/knapsack-00001/item.csv."
    with JsonlLog(dataset / "problems.jsonl") as log:
        log.append(_problem(generated.record, text))
    assert read_records(dataset / "problems.jsonl", ProblemRecord)[0].question == text
    items = load_dataset(dataset / "problems.jsonl")
    assert items.items[0].answer == generated.record.answer
    assert items.items[0].answer_status == "optimal"
    # The LLM answers with the CSV-backed formulation; the run happens elsewhere, so the
    # relative paths must resolve against the dataset's folder, not the working directory.
    monkeypatch.chdir(tmp_path)
    reply = {"reasoning": "knapsack", "formulation": generated.record.formulation}
    records = run_evaluation(items, ScriptedBackend([json.dumps(reply)]),
                             RunConfig(dataset="synthetic", llm="scripted", workers=0),
                             tmp_path / "run")
    assert records[0].correct, records[0].error
