"""Reports and run comparison: summary.json figures recomputed from hand-made records,
report.md/report.html contents (the HTML parses and carries its SVG charts), and the
flips between two runs."""

from __future__ import annotations

import json
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nl2opt.evaluation.compare import compare_records, compare_runs
from nl2opt.evaluation.eval_commands import register
from nl2opt.evaluation.records import (
    EvalRecord,
    EvaluationError,
    ResultsLog,
    RunConfig,
    RunInfo,
    SampleSummary,
    write_run_info,
)
from nl2opt.evaluation.reporting import summarize_run, write_report
from nl2opt.evaluation.scoring import SCORING_RULE

ALL_RIGHT = {"rel_1e-6": True, "rel_5pct": True, "abs_0.1": True, "round2": True}
ALL_WRONG = dict.fromkeys(ALL_RIGHT, False)


def record(uid, correct, *, category=None, subset="easy", klass="LP", status="optimal",
           objective=1.0, scored=True, attempts=1, first_correct=None, tokens=(100, 50),
           agreement=None, conventions=None, dataset="toy"):
    return EvalRecord(
        uid=uid, dataset=dataset, subset=subset, question_sha256="0" * 64, status=status,
        objective=objective, problem_class=klass, correct=correct, scored=scored,
        conventions=conventions or (ALL_RIGHT if correct else ALL_WRONG),
        category=category or ("correct" if correct else "wrong_objective"), attempts=attempts,
        first_correct=correct if first_correct is None else first_correct,
        prompt_tokens=tokens[0], completion_tokens=tokens[1], agreement=agreement,
        samples=[SampleSummary(termination=status, objective=objective)],
        llm_seconds=2.0 * attempts, solve_seconds=0.01, cpu_seconds=0.02, llm="fake")


RECORDS = [
    record("toy/a", True),
    record("toy/b", True, attempts=2, first_correct=False, klass="MILP", agreement=1.0),
    record("toy/c", False, subset="hard", tokens=(300, 100), agreement=0.5,
           conventions={"rel_1e-6": False, "rel_5pct": True, "abs_0.1": False,
                        "round2": False}),
    record("toy/d", False, category="no_parse", status=None, objective=None, klass=None,
           subset="hard", attempts=4),
    record("toy/e", True, category="correct", status="infeasible", objective=None,
           subset="hard"),
    record("toy/f", False, category="unscored", scored=False, dataset="other"),
    record("toy/g", False, category="timeout", status="time_limit", objective=None,
           klass="MILP", attempts=2, tokens=(0, 0)),
]


def make_run(directory: Path, records: list[EvalRecord]) -> Path:
    directory.mkdir(parents=True)
    write_run_info(directory, RunInfo(
        config=RunConfig(dataset="toy", llm="fake"), dataset_name="toy",
        dataset_version="file:toy.jsonl", dataset_file_hash="f" * 64, items=len(records),
        nl2opt_version="0.1.0", started_at="2026-01-01T00:00:00+00:00"))
    with ResultsLog(directory) as log:
        for one in records:
            log.append(one)
    return directory


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in ("meta", "br", "hr"):  # void elements have no end tag
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_summary_figures_match_the_records(tmp_path):
    summary = summarize_run(RECORDS)
    scored = [r for r in RECORDS if r.scored]
    assert summary["scoring_rule"] == SCORING_RULE
    assert (summary["items"], summary["scored"], summary["correct"]) == (7, 6, 3)
    assert summary["accuracy"] == pytest.approx(3 / 6)
    assert summary["after_correction_accuracy"] == pytest.approx(3 / 6)
    assert summary["first_attempt_accuracy"] == pytest.approx(2 / 6)
    # answered: a, b, c (optimal with objective), e (infeasible), f (optimal); not d, g.
    assert summary["execution_rate"] == pytest.approx(5 / 7)
    assert summary["conventions"]["rel_5pct"] == pytest.approx(4 / 6)
    assert summary["conventions"]["rel_1e-6"] == pytest.approx(3 / 6)
    assert summary["by_subset"]["hard"] == {"items": 3, "scored": 3, "correct": 1,
                                            "accuracy": pytest.approx(1 / 3)}
    assert summary["by_class"]["MILP"]["accuracy"] == pytest.approx(1 / 2)
    assert summary["by_class"]["none"]["items"] == 1
    assert summary["by_dataset"]["other"]["accuracy"] is None
    assert summary["categories"]["correct"] == 3 and summary["categories"]["no_parse"] == 1
    assert sum(summary["categories"].values()) == len(RECORDS)
    assert summary["attempts_histogram"] == {"1": 4, "2": 2, "4": 1}
    assert summary["voting"] == {"items": 2, "mean_agreement": pytest.approx(0.75),
                                 "unanimous": pytest.approx(0.5)}
    tokens = [r.tokens for r in RECORDS]
    assert summary["tokens_per_problem"]["total"]["mean"] == pytest.approx(
        statistics.fmean(tokens))
    assert summary["tokens_per_problem"]["total"]["median"] == statistics.median(tokens)
    assert summary["seconds_per_problem"]["llm"]["mean"] == pytest.approx(
        statistics.fmean(r.llm_seconds for r in RECORDS))
    assert len(scored) == summary["scored"]


def test_report_files(tmp_path):
    run = make_run(tmp_path / "run", RECORDS)
    files = write_report(run)
    summary = json.loads(files.summary.read_text())
    assert summary == json.loads(json.dumps(summarize_run(RECORDS, _info(run))))
    assert summary["run"]["dataset_file_hash"] == "f" * 64
    markdown = files.markdown.read_text()
    assert SCORING_RULE in markdown and "| Accuracy (canonical) | 50.0% (3/6 scored) |" in markdown
    assert "toy/d" in markdown and "no_parse" in markdown
    page = files.html.read_text()
    parser = Collector()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    assert parser.tags.count("svg") == 5 and parser.tags.count("rect") > 5
    text = " ".join(parser.text)
    for title in ("Accuracy by dataset", "Accuracy by problem class", "Outcome categories",
                  "LLM answers per problem"):
        assert title in text
    assert SCORING_RULE in text
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")


def _info(run):
    from nl2opt.evaluation.records import read_run_info

    return read_run_info(run)


def test_html_escapes_labels(tmp_path):
    nasty = record("toy/<script>alert(1)</script>", False, subset="<b>x</b>")
    files = write_report(make_run(tmp_path / "run", [nasty]))
    page = files.html.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    Collector().feed(page)


def test_compare_flips_and_delta(tmp_path):
    before = [record("toy/a", True), record("toy/b", False), record("toy/c", True),
              record("toy/d", False), record("toy/only-a", True)]
    after = [record("toy/a", False, objective=2.0), record("toy/b", True),
             record("toy/c", True), record("toy/d", False), record("toy/only-b", False)]
    comparison = compare_records(before, after)
    assert comparison.common == 4
    assert [(f.uid, f.change) for f in comparison.flips] == [("toy/a", "correct->wrong"),
                                                            ("toy/b", "wrong->correct")]
    assert comparison.delta == pytest.approx(0.0)
    assert (comparison.overall_a, comparison.overall_b) == (pytest.approx(3 / 5),
                                                             pytest.approx(2 / 5))
    assert (comparison.only_in_a, comparison.only_in_b) == (1, 1)
    assert comparison.lost[0].objective_after == 2.0

    run_a, run_b = make_run(tmp_path / "a", before), make_run(tmp_path / "b", after)
    assert compare_runs(run_a, run_b).to_dict() == comparison.to_dict() | {
        "run_a": str(run_a), "run_b": str(run_b)}
    app = typer.Typer()
    register(app)
    shown = CliRunner().invoke(app, ["compare", str(run_a), str(run_b), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert (data["gained"], data["lost"], data["delta"]) == (1, 1, 0.0)
    table = CliRunner().invoke(app, ["compare", str(run_a), str(run_b)])
    assert table.exit_code == 0 and "correct->wrong" in table.output and "toy/b" in table.output


def test_report_command_and_errors(tmp_path):
    app = typer.Typer()
    register(app)
    run = make_run(tmp_path / "run", RECORDS)
    shown = CliRunner().invoke(app, ["report", str(run)])
    assert shown.exit_code == 0, shown.output
    assert "50.0%" in shown.output and (run / "report.html").exists()
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "run.json" in missing.output
    empty = tmp_path / "empty"
    make_run(empty, [])
    with pytest.raises(EvaluationError, match="no results"):
        write_report(empty)


def test_reports_state_the_label_decimals_rule_and_keep_the_strict_column(tmp_path):
    # c was accepted only by the label-decimals rule; the other records predate the rule
    # (no strict_1e-4 verdict), so their strict verdict is their canonical one.
    decimals_only = {"strict_1e-4": False, "rel_1e-6": False, "rel_5pct": True,
                     "abs_0.1": True, "round2": True}
    records = [record("toy/a", True), record("toy/b", False),
               record("toy/c", True, conventions=decimals_only)]
    files = write_report(make_run(tmp_path / "run", records))
    summary = json.loads(files.summary.read_text())
    assert summary["accuracy"] == pytest.approx(2 / 3)
    assert summary["conventions"]["strict_1e-4"] == pytest.approx(1 / 3)
    rule = "|pred - label| <= 0.5 * 10^-d"
    assert rule in summary["scoring_rule"]
    markdown = files.markdown.read_text()
    assert rule in markdown
    assert "| Accuracy without the label-decimals rule (strict_1e-4) | 33.3% |" in markdown
    assert "| strict_1e-4 | 33.3% |" in markdown
    page = files.html.read_text()
    assert "0.5 * 10^-d" in page and "strict_1e-4" in page
