"""Label audit: cross-version disputes, sample consensus, run records, the CLI command."""

import json

import pytest
import typer
from typer.testing import CliRunner

from conftest import DATASETS
from nl2opt.datasets.types import Dataset, DatasetItem
from nl2opt.errors import DataError
from nl2opt.evaluation.audit import (
    audit,
    count_by_kind,
    read_run_records,
    sample_consensus,
)
from nl2opt.evaluation.audit_commands import register


def item(uid, answer=100.0, status="optimal", others=()):
    return DatasetItem(uid=uid, dataset="toy", question=f"problem {uid}", answer=answer,
                       answer_status=status, other_versions=list(others))


def version(file, answer_raw, agrees):
    return {"file": file, "native_id": 7, "answer_raw": answer_raw, "match": "exact",
            "agrees": agrees}


def samples(*outcomes):
    return [{"termination": t, "objective": o} for t, o in outcomes]


def toy_dataset():
    return Dataset(name="toy", path="toy.jsonl", version="hand-made", file_hash="0" * 64, items=[
        item("toy/agreed", others=[version("a.jsonl", "100", True)]),
        item("toy/disputed", others=[version("a.jsonl", "100", True),
                                     version("b.jsonl", "90", False),
                                     version("c.json", {"Cost": "91"}, False)]),
        item("toy/wrong", answer=50.0, others=[version("old.jsonl", 80, True)]),
        item("toy/right", answer=10.0),
        item("toy/noisy", answer=10.0),
        item("toy/infeasible", answer=None, status="infeasible"),
        item("toy/unlabeled", answer=None, status="unlabeled"),
    ])


RECORDS = [
    {"uid": "toy/wrong", "answer": {"status": "optimal", "objective": 80.0},
     "samples": samples(("optimal", 80.0), ("optimal", 80.004), ("optimal", 12.0))},
    {"uid": "toy/right", "samples": samples(("optimal", 10.0), ("optimal", 10.0))},
    {"uid": "toy/noisy", "samples": samples(("optimal", 11.0), ("optimal", 12.0),
                                            ("optimal", 11.0), ("error", None),
                                            ("optimal", 13.0))},
    {"uid": "toy/infeasible", "status": "optimal", "objective": 5.0,  # the runner's fields
     "samples": samples(("optimal", 5.0), ("optimal", 5.0), ("optimal", 5.0))},
    {"uid": "toy/unlabeled", "samples": samples(("infeasible", None), ("infeasible", None))},
    {"uid": "not/in/dataset", "samples": samples(("optimal", 1.0), ("optimal", 1.0))},
]


def test_disputed_labels_list_the_other_versions():
    findings = audit(toy_dataset())
    assert [(f.uid, f.kind) for f in findings] == [("toy/disputed", "disputed_label")]
    [finding] = findings
    assert finding.label == 100.0 and finding.label_status == "optimal"
    assert [(e["file"], e["answer_raw"]) for e in finding.evidence] == \
        [("b.jsonl", "90"), ("c.json", {"Cost": "91"})]
    assert "b.jsonl: 90" in finding.message and "2 other version(s)" in finding.message
    assert finding.to_dict()["evidence"][0]["native_id"] == 7


def test_samples_that_agree_against_the_label_are_flagged():
    findings = audit(toy_dataset(), RECORDS)
    kinds = {(f.uid, f.kind) for f in findings}
    assert kinds == {("toy/disputed", "disputed_label"),
                     ("toy/wrong", "samples_disagree_with_label"),
                     ("toy/infeasible", "samples_disagree_with_label"),
                     ("toy/unlabeled", "consensus_for_unlabeled")}
    wrong = next(f for f in findings if f.uid == "toy/wrong")
    assert wrong.evidence[0]["agreeing"] == 2 and wrong.evidence[0]["samples"] == 3
    assert wrong.evidence[0]["consensus_objective"] == 80.0
    assert wrong.evidence[0]["matching_versions"] == ["old.jsonl"]
    assert wrong.evidence[0]["run_answer"] == {"status": "optimal", "objective": 80.0}
    assert "2/3 samples agree on 80" in wrong.message and "old.jsonl" in wrong.message
    infeasible = next(f for f in findings if f.uid == "toy/infeasible")
    assert infeasible.evidence[0]["run_answer"] == {"status": "optimal", "objective": 5.0}
    assert "label infeasible, but 3/3 samples agree on 5" in infeasible.message
    assert count_by_kind(findings) == {"disputed_label": 1, "samples_disagree_with_label": 2,
                                       "consensus_for_unlabeled": 1}
    by_uid = {r["uid"]: r for r in RECORDS}
    assert audit(toy_dataset(), by_uid) == findings  # a mapping works the same


@pytest.mark.parametrize("outcomes,expected", [
    ([("optimal", 5.0)], None),                                      # one sample is no vote
    ([("optimal", 5.0), ("optimal", 6.0)], None),                    # no agreement
    ([("optimal", 5.0), ("optimal", 5.0)], ("optimal", 5.0, 2)),
    ([("optimal", 5.0), ("optimal", 5.0), ("optimal", 9.0)], ("optimal", 5.0, 2)),
    ([("optimal", 5.0), ("optimal", 5.0), ("error", None), ("time_limit", 5.0)], None),
    ([("optimal", 5.0), ("optimal", 5.0), ("optimal", 5.0), ("error", None)],
     ("optimal", 5.0, 3)),
    ([("optimal", 1e6), ("optimal", 1e6 + 50), ("optimal", 1e6 - 50)], ("optimal", 1e6, 3)),
    ([("infeasible", None), ("infeasible_or_unbounded", None)], None),
    ([("INFEASIBLE", None), ("infeasible", None), ("optimal", 3.0)], ("infeasible", None, 2)),
    ([("optimal", "7.5"), ("optimal", 7.5)], ("optimal", 7.5, 2)),
    ([("optimal", None), ("optimal", None)], None),
])
def test_sample_consensus(outcomes, expected):
    consensus = sample_consensus(samples(*outcomes))
    if expected is None:
        assert consensus is None
    else:
        assert (consensus.status, consensus.objective, consensus.agreeing) == expected
        assert consensus.total == len(outcomes)


def test_read_run_records_skips_partial_and_broken_lines(tmp_path):
    lines = [json.dumps({"uid": "a", "samples": [], "answer": None}),
             '{"uid": "b", "sam',                                   # cut mid-write, resumed
             json.dumps({"no_uid": True}),
             "",
             json.dumps({"uid": "a", "samples": [], "answer": 3.0}),  # resumed run: last wins
             '{"uid": "c", "samples": [{"termination": "opt']        # partial last line
    (tmp_path / "results.jsonl").write_text("\n".join(lines), encoding="utf-8")
    records = read_run_records(tmp_path)
    assert set(records.by_uid) == {"a"} and records.by_uid["a"]["answer"] == 3.0
    assert records.skipped_lines == [2, 3, 6]
    assert read_run_records(tmp_path / "results.jsonl").by_uid == records.by_uid
    with pytest.raises(DataError, match="no run results at"):
        read_run_records(tmp_path / "elsewhere")


def _app():
    app = typer.Typer()

    @app.command()
    def other() -> None:
        """Placeholder so typer keeps sub-commands."""

    register(app)
    return app


def _write_toy(tmp_path):
    data_file = tmp_path / "toy.jsonl"
    data_file.write_text("".join(json.dumps(i.model_dump()) + "\n"
                                 for i in toy_dataset().items), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in RECORDS) + '{"uid": "toy/ri', encoding="utf-8")
    return data_file, run_dir


def test_audit_command_json(tmp_path):
    data_file, run_dir = _write_toy(tmp_path)
    result = CliRunner().invoke(_app(), ["audit", str(data_file), "--run", str(run_dir),
                                         "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["items"] == 7 and report["items_with_run_records"] == 5
    assert report["skipped_run_lines"] == [7]
    assert report["counts"] == {"disputed_label": 1, "samples_disagree_with_label": 2,
                                "consensus_for_unlabeled": 1}
    assert {f["uid"] for f in report["findings"]} == {"toy/disputed", "toy/wrong",
                                                      "toy/infeasible", "toy/unlabeled"}


def test_audit_command_table_and_limit(tmp_path):
    data_file, run_dir = _write_toy(tmp_path)
    result = CliRunner().invoke(_app(), ["audit", str(data_file), "--run", str(run_dir),
                                         "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "toy/wrong" in result.output and "toy/infeasible" not in result.output
    assert "audited 3 items, 1 with run records; 2 finding(s)" in result.output
    plain = CliRunner().invoke(_app(), ["audit", str(data_file)])
    assert "no --run given" in plain.output and "1 finding(s)" in plain.output


def test_audit_command_errors_are_plain_messages(tmp_path):
    result = CliRunner().invoke(_app(), ["audit", "nl4opt", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not found; looked for" in result.output and "nl2opt data fetch" in result.output
    data_file, _ = _write_toy(tmp_path)
    missing_run = CliRunner().invoke(_app(), ["audit", str(data_file), "--run",
                                              str(tmp_path / "nope")])
    assert missing_run.exit_code == 2 and "no run results" in missing_run.output


def test_data_list_command_shows_how_to_get_missing_data(tmp_path):
    result = CliRunner().invoke(_app(), ["data", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "nl4opt" in result.output and "logior" in result.output


@pytest.mark.skipif(not DATASETS.is_dir(),
                    reason=f"staged benchmark data not present at {DATASETS}")
def test_staged_disputes_match_the_other_versions_field():
    from nl2opt.datasets import load_dataset

    data = load_dataset("logior", data_dir=DATASETS)
    findings = audit(data)
    expected = [i.uid for i in data.items
                if any(v.get("agrees") is False for v in i.other_versions)]
    assert [f.uid for f in findings] == expected and len(expected) == 1
    optibench = audit(load_dataset("optibench", data_dir=DATASETS))
    assert optibench == []  # the README reports no cross-version disagreement
