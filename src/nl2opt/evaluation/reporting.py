"""Reports of an evaluation run: summary.json, report.md and report.html.

Every number is computed from results.jsonl by `summarize_run`, a pure
function of the records and run.json, so the three files always agree, and
accuracies go through `nl2opt.evaluation.scoring` (the same rule as the run).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nl2opt.evaluation.records import (
    FAILURE_CATEGORIES,
    EvalRecord,
    EvaluationError,
    RunInfo,
    own_records,
    read_results,
    read_run_info,
)
from nl2opt.solvers.result import time_limit_text

SUMMARY_FILE, MARKDOWN_FILE, HTML_FILE = "summary.json", "report.md", "report.html"


@dataclass(frozen=True)
class ReportFiles:
    summary: Path
    markdown: Path
    html: Path


def _scores(records: Iterable[EvalRecord]) -> list:
    from nl2opt.evaluation.scoring import Score

    # Records written before the label-decimals rule were scored by the strict rule alone.
    return [Score(correct=r.correct, scored=r.scored,
                  conventions={"strict_1e-4": r.correct, **r.conventions},
                  relative_error=r.relative_error) for r in records]


def group_accuracy(records: list[EvalRecord]) -> dict[str, Any]:
    """Items, scored, correct and accuracy of a group of records."""
    from nl2opt.evaluation.scoring import accuracy

    scored = [r for r in records if r.scored]
    return {"items": len(records), "scored": len(scored),
            "correct": sum(r.correct for r in scored), "accuracy": accuracy(_scores(records))}


def _grouped(records: list[EvalRecord], key: Callable[[EvalRecord], Any]) -> dict[str, Any]:
    groups: dict[str, list[EvalRecord]] = {}
    for record in records:
        groups.setdefault(str(key(record) or "none"), []).append(record)
    return {name: group_accuracy(groups[name]) for name in sorted(groups)}


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "total": 0.0}
    return {"mean": statistics.fmean(values), "median": statistics.median(values),
            "total": float(sum(values))}


def _fraction(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize_run(records: list[EvalRecord], info: RunInfo | None = None) -> dict[str, Any]:
    """Every figure of the report, as a JSON-ready dict (records of uids that are not
    items of the run are left out and counted as `ignored_records`)."""
    from nl2opt.evaluation.scoring import CONVENTIONS, SCORING_RULE, accuracy

    everything, records = records, own_records(records, info)
    scores = _scores(records)
    scored = [r for r in records if r.scored]
    voted = [r for r in records if r.agreement is not None]
    categories = Counter(r.category for r in records)
    return {
        "run": _run_section(info, records),
        "scoring_rule": SCORING_RULE,
        **group_accuracy(records),
        "ignored_records": len(everything) - len(records),
        "execution_rate": _fraction(sum(r.answered for r in records), len(records)),
        "first_attempt_accuracy": _fraction(sum(r.first_correct for r in scored), len(scored)),
        "after_correction_accuracy": accuracy(scores),
        "conventions": {name: accuracy(scores, name) for name in CONVENTIONS},
        "by_dataset": _grouped(records, lambda r: r.dataset),
        "by_subset": _grouped(records, lambda r: r.subset),
        "by_class": _grouped(records, lambda r: r.problem_class),
        "categories": {name: categories.get(name, 0) for name in FAILURE_CATEGORIES}
                      | {name: n for name, n in categories.items()
                         if name not in FAILURE_CATEGORIES},
        "attempts_histogram": {str(k): v for k, v in
                               sorted(Counter(r.attempts for r in records).items())},
        "voting": {"items": len(voted),
                   "mean_agreement": _spread([r.agreement for r in voted])["mean"],
                   "unanimous": _fraction(sum(r.agreement == 1.0 for r in voted), len(voted))},
        "vote_comparison": vote_comparison(scored),
        **semantic_summary(records),
        "tokens_per_problem": {
            "total": _spread([float(r.tokens) for r in records]),
            "prompt": _spread([float(r.prompt_tokens) for r in records]),
            "completion": _spread([float(r.completion_tokens) for r in records])},
        "seconds_per_problem": {
            name: _spread([float(getattr(r, f"{name}_seconds")) for r in records])
            for name in ("llm", "check", "solve", "cpu")},
    }


def vote_comparison(scored: list[EvalRecord]) -> dict[str, Any]:
    """Accuracy of voting by objective value vs by equivalence, on the same items."""
    by_model = [r for r in scored if r.vote_method == "equivalence"]
    return {"equivalence_items": len(by_model),
            "objective_vote_accuracy": _fraction(sum(r.objective_vote_correct
                                                     for r in by_model), len(by_model)),
            "equivalence_vote_accuracy": _fraction(sum(r.correct for r in by_model),
                                                   len(by_model))}


def semantic_summary(records: list[EvalRecord]) -> dict[str, Any]:
    """Accuracy before and after the semantic review; alternatives matching the label."""
    scored = [r for r in records if r.scored]
    reviewed = [r for r in records if r.reviews]
    changed = [r for r in reviewed if (r.prereview_status, r.prereview_objective)
               != (r.status, r.objective)]
    with_alternatives = [r for r in records if r.alternatives]
    return {
        "before_review_accuracy": _fraction(sum(r.prereview_correct for r in scored),
                                            len(scored))
        if any(r.review_enabled for r in records) else None,
        "review": {"items": len(reviewed),
                   "with_findings": sum(r.review_findings > 0 for r in reviewed),
                   "answer_changed": len(changed),
                   "fixed": sum(r.correct and not r.prereview_correct for r in changed),
                   "broken": sum(r.prereview_correct and not r.correct for r in changed)},
        "alternatives": {"items": len(with_alternatives),
                         "label_matched_non_primary": sum(r.alternative_matched
                                                          for r in with_alternatives),
                         "only_non_primary_matched": sum(r.alternative_matched and not r.correct
                                                         for r in with_alternatives)},
    }


def _run_section(info: RunInfo | None, records: list[EvalRecord]) -> dict[str, Any]:
    if info is None:
        llms = sorted({r.llm for r in records})
        return {"llm": ", ".join(llms), "dataset": ", ".join(sorted({r.dataset
                                                                     for r in records}))}
    return {"dataset": info.dataset_name, "dataset_version": info.dataset_version,
            "dataset_file_hash": info.dataset_file_hash, "dataset_items": info.items,
            "llm": info.config.llm, "config": info.config.model_dump(mode="json"),
            "nl2opt_version": info.nl2opt_version, "started_at": info.started_at,
            "resumed_at": info.resumed_at, "finished_at": info.finished_at}


def load_run(run_dir: str | Path) -> tuple[list[EvalRecord], RunInfo]:
    """The records and run.json of a run directory."""
    info = read_run_info(run_dir)
    records = read_results(run_dir)
    if not records:
        raise EvaluationError(f"{run_dir} has no results yet (results.jsonl is empty or "
                              "missing); run `nl2opt eval` first.")
    return records, info


def write_report(run_dir: str | Path) -> ReportFiles:
    """Write summary.json, report.md and report.html into the run directory."""
    from nl2opt.evaluation.html import render_html

    run_dir = Path(run_dir)
    records, info = load_run(run_dir)
    summary = summarize_run(records, info)
    records = own_records(records, info)
    files = ReportFiles(run_dir / SUMMARY_FILE, run_dir / MARKDOWN_FILE, run_dir / HTML_FILE)
    files.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    files.markdown.write_text(render_markdown(summary, records), encoding="utf-8")
    files.html.write_text(render_html(summary, records), encoding="utf-8")
    return files


# -- Markdown -------------------------------------------------------------------------

def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs shared by the Markdown and HTML reports."""
    tokens, seconds = summary["tokens_per_problem"]["total"], summary["seconds_per_problem"]
    voting = summary["voting"]
    return [
        ("Accuracy (canonical)", f"{percent(summary['accuracy'])} "
                                 f"({summary['correct']}/{summary['scored']} scored)"),
        ("Accuracy without the label-decimals rule (strict_1e-4)",
         percent(summary["conventions"].get("strict_1e-4"))),
        ("Execution rate (an answer was produced)", percent(summary["execution_rate"])),
        ("First-attempt accuracy", percent(summary["first_attempt_accuracy"])),
        ("After self-correction", percent(summary["after_correction_accuracy"])),
        *semantic_rows(summary),
        ("Sample agreement (mean, items with samples)",
         f"{percent(voting['mean_agreement'])} over {voting['items']} items"),
        ("Tokens per problem (mean / median)",
         f"{number(tokens['mean'], 6)} / {number(tokens['median'], 6)}"),
        ("LLM seconds per problem (mean / median)",
         f"{number(seconds['llm']['mean'])} / {number(seconds['llm']['median'])}"),
        ("Solve seconds per problem (mean / median)",
         f"{number(seconds['solve']['mean'])} / {number(seconds['solve']['median'])}"),
        ("Solve-stage CPU seconds per problem (mean)", number(seconds["cpu"]["mean"])),
        ("Items", str(summary["items"])),
    ]


def semantic_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for the semantic review, the vote comparison and the alternatives (when used)."""
    rows = []
    review, voting = summary.get("review") or {}, summary.get("vote_comparison") or {}
    if summary.get("before_review_accuracy") is not None:
        rows.append(("Before / after the semantic review",
                     f"{percent(summary['before_review_accuracy'])} / "
                     f"{percent(summary['after_correction_accuracy'])} ({review['items']} "
                     f"reviewed, {review['with_findings']} with findings, "
                     f"{review['fixed']} fixed, {review['broken']} broken)"))
    if voting.get("equivalence_items"):
        rows.append(("Voting by objective value / by equivalence",
                     f"{percent(voting['objective_vote_accuracy'])} / "
                     f"{percent(voting['equivalence_vote_accuracy'])} over "
                     f"{voting['equivalence_items']} items"))
    alternatives = summary.get("alternatives") or {}
    if alternatives.get("items"):
        rows.append(("Label matched a non-primary interpretation",
                     f"{alternatives['label_matched_non_primary']} of {alternatives['items']} "
                     f"items with alternatives ({alternatives['only_non_primary_matched']} "
                     "where the primary answer was wrong)"))
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def group_rows(groups: dict[str, Any]) -> list[list[str]]:
    return [[name, str(g["items"]), str(g["scored"]), str(g["correct"]), percent(g["accuracy"])]
            for name, g in groups.items()]


def render_markdown(summary: dict[str, Any], records: list[EvalRecord], failures: int = 200
                    ) -> str:
    """report.md: headline figures, the scoring rule verbatim, and per-group tables."""
    run = summary["run"]
    wrong = [r for r in records if r.category != "correct"]
    group_header = ["group", "items", "scored", "correct", "accuracy"]
    parts = [
        f"# Evaluation report: {run.get('dataset', '')}",
        f"LLM `{run.get('llm', '')}`; dataset version `{run.get('dataset_version', '')}` "
        f"(sha256 `{str(run.get('dataset_file_hash', ''))[:16]}`); nl2opt "
        f"{run.get('nl2opt_version', '')}; started {run.get('started_at', '')}, finished "
        f"{run.get('finished_at') or 'not yet'}.",
        _table(["figure", "value"], [list(row) for row in headline_rows(summary)]),
        *([ignored_note(summary)] if summary.get("ignored_records") else []),
        "## Scoring rule", "> " + summary["scoring_rule"],
        "## Other scoring conventions",
        _table(["convention", "accuracy"],
               [[name, percent(value)] for name, value in summary["conventions"].items()]),
        "## Accuracy by dataset", _table(group_header, group_rows(summary["by_dataset"])),
        "## Accuracy by subset", _table(group_header, group_rows(summary["by_subset"])),
        "## Accuracy by problem class", _table(group_header, group_rows(summary["by_class"])),
        "## Outcome categories",
        _table(["category", "items"], [[name, str(n)] for name, n in
                                       summary["categories"].items()]),
        "## LLM answers per problem",
        _table(["answers", "items"], [[k, str(v)] for k, v in
                                      summary["attempts_histogram"].items()]),
        f"## Items not answered correctly ({len(wrong)})",
        _table(["uid", "category", "predicted", "expected", "error"],
               [[r.uid, r.category, prediction_text(r), expected_text(r), r.error[:160]]
                for r in wrong[:failures]] or [["-", "-", "-", "-", "-"]]),
    ]
    if len(wrong) > failures:
        parts.append(f"... and {len(wrong) - failures} more in results.jsonl.")
    return "\n\n".join(parts) + "\n"


def ignored_note(summary: dict[str, Any]) -> str:
    return (f"{summary['ignored_records']} record(s) in results.jsonl are not items of this "
            "run (their uid is in none of the dataset selections it was started or resumed "
            "with) and are not counted.")


def prediction_text(record: EvalRecord) -> str:
    if record.status == "optimal" and record.objective is not None:
        return f"{record.objective:.6g}"
    if record.status == "time_limit":
        return time_limit_text(record.objective, record.bound, record.gap)
    return record.status or "none"


def expected_text(record: EvalRecord) -> str:
    if record.expected_status == "optimal" and record.expected_answer is not None:
        return f"{record.expected_answer:.6g}"
    return record.expected_status or "none"
