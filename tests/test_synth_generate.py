"""`nl2opt synth generate`: planned instances, labels, variants at set rates, append-only
output with resume (nothing lost or duplicated), and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.synthesis.family import SynthesisError
from nl2opt.synthesis.generate import RunSettings, generate_instances
from nl2opt.synthesis.plan import derived_seed, plan_family
from nl2opt.synthesis.records import INSTANCES_FILE, InstanceRecord, read_records

runner = CliRunner()


def settings(**changes) -> RunSettings:
    base = {"families": ["knapsack", "transportation"], "per_family": 3,
                "complexity": (15.0, 60.0), "solve_seconds": (0.0, 10.0), "probes": 1}
    return RunSettings(**{**base, **changes})


def test_plan_is_deterministic_and_prefix_stable():
    short = plan_family("knapsack", 3, {"items": 10}, run_seed=4, infeasible_rate=0.5)
    long = plan_family("knapsack", 6, {"items": 10}, run_seed=4, infeasible_rate=0.5)
    assert [e.spec for e in short] == [e.spec for e in long[:3]]
    assert [e.spec.uid for e in short] == ["knapsack-00000", "knapsack-00001", "knapsack-00002"]
    assert short[1].spec.seed == derived_seed(4, "knapsack", 1) != derived_seed(5, "knapsack", 1)


def test_generate_labels_every_instance_in_band(tmp_path):
    records = generate_instances(tmp_path, settings())
    assert sorted(r.uid for r in records) == [f"{f}-0000{k}" for f in ("knapsack",
                                              "transportation") for k in range(3)]
    assert all(r.answer_status == "optimal" and r.answer is not None for r in records)
    assert all(15 <= r.complexity["score"] <= 60 for r in records)
    assert all(r.statement.startswith("% requires") for r in records)
    tuned = json.loads((tmp_path / "tuning.json").read_text())
    assert tuned["knapsack"]["reached"] and tuned["transportation"]["reached"]


def test_variants_are_kept_on_purpose_and_labelled(tmp_path):
    records = generate_instances(tmp_path, settings(
        families=["knapsack", "production_mix"], infeasible_rate=0.5, unbounded_rate=0.5,
        per_family=4, tune=False))
    by_uid = {r.uid: r for r in records}
    for record in records:
        variant = record.generator.variant
        assert variant in ("infeasible", "unbounded", "feasible")
        expected = {"infeasible": "infeasible", "unbounded": "unbounded",
                    "feasible": "optimal"}[variant]
        assert record.answer_status == expected, record.generator
    assert any(r.answer_status == "unbounded" for r in by_uid.values()
               if r.family == "production_mix")
    # A knapsack cannot become unbounded: those fall back to feasible and say so.
    assert all(r.generator.variant_note == "no unbounded variant for this family"
               for r in records if r.family == "knapsack" and r.generator.variant == "feasible")


def test_interrupted_generation_resumes_without_loss_or_duplicates(tmp_path):
    seen = []

    def stop_after_two(record):
        seen.append(record.uid)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_instances(tmp_path, settings(), on_instance=stop_after_two)
    path = tmp_path / INSTANCES_FILE
    assert len(read_records(path, InstanceRecord)) == 2
    with path.open("a") as handle:  # a kill in the middle of a write
        handle.write('{"uid": "knapsack-000')
    with pytest.raises(SynthesisError, match="already holds a synthesis run"):
        generate_instances(tmp_path, settings())
    with pytest.raises(SynthesisError, match="seed: 0 -> 1"):
        generate_instances(tmp_path, settings(seed=1), resume=True)
    started = []
    records = generate_instances(tmp_path, settings(), resume=True,
                                 on_start=lambda done, todo: started.append((done, todo)))
    assert started == [(2, 4)]
    uids = [json.loads(line)["uid"] for line in path.read_text().splitlines()]
    assert len(uids) == len(set(uids)) == 6 == len(records)


def test_worker_processes_give_the_same_instances(tmp_path):
    single = generate_instances(tmp_path / "one", settings(tune=False), workers=1)
    double = generate_instances(tmp_path / "two", settings(tune=False), workers=2)
    key = sorted((r.uid, r.answer, r.complexity["score"]) for r in single)
    assert key == sorted((r.uid, r.answer, r.complexity["score"]) for r in double)


def test_cli_lists_families_and_generates(tmp_path):
    listed = runner.invoke(app, ["synth", "families", "--json"])
    assert listed.exit_code == 0
    assert len(json.loads(listed.stdout)) >= 30
    result = runner.invoke(app, ["synth", "generate", "--families", "knapsack", "--per-family",
                                 "2", "--no-tune", "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 instances in" in result.stdout
    bad = runner.invoke(app, ["synth", "generate", "--families", "knapsak", "--out",
                              str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown family 'knapsak'" in bad.output
    band = runner.invoke(app, ["synth", "generate", "--complexity", "150:50", "--out",
                               str(tmp_path / "y")])
    assert band.exit_code == 2 and "--complexity must look like LO:HI" in band.output
