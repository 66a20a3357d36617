"""The `nl2opt eval`, `nl2opt report` and `nl2opt compare` commands.

`register(app)` adds them to a typer app (the main CLI wires it in).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError
from nl2opt.library.options import embeddings_option, print_warning
from nl2opt.text import safe_terminal

console = Console(soft_wrap=True, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

# Exit code of a run that stopped for batch answers (EX_TEMPFAIL: run it again later).
PENDING_EXIT_CODE = 75


def _fail(message: str, code: int = 2):
    errors.print("[bold red]error:[/] ", end="")
    errors.print(safe_terminal(message), highlight=False)
    raise typer.Exit(code)


def _split_ids(ids: list[str] | None) -> list[str] | None:
    if not ids:
        return None
    return [part.strip() for value in ids for part in value.split(",") if part.strip()]


def _default_out(dataset: str) -> Path:
    name = Path(dataset).stem if ("/" in dataset or "." in dataset) else dataset
    return Path("runs") / f"eval-{name}-{datetime.now():%Y%m%d-%H%M%S}"


class _Progress:
    """A rich progress bar with ETA and the running accuracy (on stderr)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[accuracy]}"), console=errors,
                                 transient=False)
        self.task = None
        self.scored = self.correct = 0

    def start(self, done, todo: int) -> None:
        for record in done:
            self._count(record)
        self.task = self.progress.add_task("eval", total=len(done) + todo,
                                           completed=len(done), accuracy=self._text())

    def record(self, record) -> None:
        self._count(record)
        self.progress.update(self.task, advance=1, accuracy=self._text())

    def _count(self, record) -> None:
        self.scored += record.scored
        self.correct += record.scored and record.correct

    def _text(self) -> str:
        if not self.scored:
            return "accuracy n/a"
        return f"accuracy {100 * self.correct / self.scored:.1f}% ({self.correct}/{self.scored})"


def eval_command(
        dataset: str = typer.Argument(..., help="A registered dataset name or a JSONL/CSV file."),
        llm: Optional[str] = typer.Option(None, "--llm", help="LLM spec (vllm:, openai:, "
                                          "batch:, replay:, record:); default env NL2OPT_LLM."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where datasets are."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N items."),
        ids: Optional[list[str]] = typer.Option(None, "--ids", help="Only these uids (repeat "
                                                "or comma-separate)."),
        rounds: int = typer.Option(3, "--rounds", help="Self-correction rounds."),
        samples: int = typer.Option(1, "--samples", help="Formulations sampled and voted on."),
        workers: Optional[int] = typer.Option(None, "--workers", help="Solve processes "
                                              "(default: CPU count; 0 = in this process)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default "
                                           "runs/eval-DATASET-TIME)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out, "
                                    "skipping finished items."),
        time_limit: float = typer.Option(60.0, "--time-limit", help="Solver seconds per solve."),
        memory_mb: int = typer.Option(4096, "--memory-mb", help="Address-space limit per "
                                      "solve worker (0 = none)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Items per LLM "
                                                 "batch (default 64; 1024 with --ray and a "
                                                 "vllm: spec: each batch loads the model)."),
        solver: Optional[str] = typer.Option(None, "--solver", help="Solver backend; "
                                             "default: by problem class."),
        report: bool = typer.Option(True, "--report/--no-report",
                                    help="Write report.md/html and summary.json at the end."),
        library: Optional[Path] = typer.Option(None, "--library", help="An experience "
                                               "library file: insights go into the prompts."),
        embeddings: Optional[str] = embeddings_option(),
        review: Optional[bool] = typer.Option(
            None, "--review/--no-review", help="Review each solved model against its text "
            "(fact coverage, LLM) and repair; default: on when --rounds > 0."),
        vote: str = typer.Option("equivalence", "--vote", help="How --samples vote: "
                                 "equivalence or objective."),
        ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS", help="Run on Ray: "
                                          "'local' starts a cluster here, 'auto' joins the "
                                          "running one, or HOST:PORT (docs/scaling.md)."),
        replicas: Optional[int] = typer.Option(None, "--replicas", help="With --ray and a "
                                               "vllm: spec: vLLM replicas (default: as many "
                                               "as the GPUs hold).")
) -> None:
    """Evaluate nl2opt on a benchmark: results.jsonl, run.json and a report in --out."""
    from nl2opt.cluster.runtime import default_batch_size, execution
    from nl2opt.datasets import load_dataset
    from nl2opt.evaluation.records import EvaluationPending, RunConfig
    from nl2opt.evaluation.runner import run_evaluation
    from nl2opt.llm.spec import default_spec

    if resume and out is None:
        _fail("--resume needs --out: the directory of the run to continue.")
    if embeddings and library is None:
        _fail("--embeddings ranks an experience library's insights: add --library FILE.")
    spec = llm or default_spec()
    selected = _split_ids(ids)
    out = out or _default_out(dataset)
    config = RunConfig(dataset=dataset, llm=spec, rounds=rounds, samples=samples,
                       solver=solver, time_limit=time_limit,
                       data_dir=str(data_dir) if data_dir else None, limit=limit, ids=selected,
                       workers=(os.cpu_count() or 1) if workers is None else workers,
                       memory_mb=memory_mb or None,
                       batch_size=batch_size or default_batch_size(spec, ray),
                       library=str(library) if library else None,
                       embeddings=embeddings or None, review=review, vote=vote)
    progress = _Progress()
    try:
        items = load_dataset(dataset, data_dir=data_dir, limit=limit, ids=selected)
        with execution(ray, workers=workers, memory_mb=config.memory_mb,
                       time_limit=time_limit, replicas=replicas, echo=_note) as runtime:
            config.workers = runtime.workers
            backend = runtime.make_llm(spec)
            insights = None
            if library is not None:
                from nl2opt.library.retrieval import open_retriever

                insights = open_retriever(library, backend, embeddings=embeddings,
                                          warn=print_warning)
            with progress.progress:
                records = run_evaluation(items, backend, config, out, resume=resume,
                                         on_record=progress.record, on_start=progress.start,
                                         insights=insights, solve_pool=runtime.solve_pool)
    except EvaluationPending as pending:
        _stop_for_batch(pending, f"nl2opt eval {shlex.quote(dataset)} --llm "
                                 f"{shlex.quote(spec)} --out {shlex.quote(str(out))} --resume"
                                 + (f" --library {shlex.quote(str(library))}"
                                    if library is not None else "")
                                 + (f" --embeddings {shlex.quote(embeddings)}"
                                    if embeddings else ""))
    except KeyboardInterrupt:
        _fail(f"interrupted; continue with: nl2opt eval {dataset} --out {out} --resume "
              "(same options)", code=130)
    except Nl2OptError as error:
        _fail(f"{error}" + (f"\nFinished items are kept in {out}; add --resume to continue."
                            if (out / "results.jsonl").exists() else ""))
    scored = [r for r in records if r.scored]
    correct = sum(r.correct for r in scored)
    accuracy = f"{100 * correct / len(scored):.1f}%" if scored else "n/a"
    console.print(f"accuracy {accuracy} ({correct}/{len(scored)} scored, {len(records)} items) "
                  f"-> {out}", highlight=False)
    failed_llm = [r for r in records if r.category == "llm_error"]
    if failed_llm:
        # Otherwise a misconfigured LLM just looks like 0% accuracy.
        errors.print(f"{len(failed_llm)} item(s) failed at the LLM; the first error: "
                     f"{safe_terminal(failed_llm[0].error)}", highlight=False)
    if report:
        try:
            _write_report(out)
        except Nl2OptError as error:
            _fail(str(error))


def _note(message: str) -> None:
    errors.print(safe_terminal(message), highlight=False)


def _stop_for_batch(pending, resume_command: str):
    """The run waits for batch answers: say what to run, then how to continue."""
    errors.print(pending.describe(f"{resume_command}   (with the same other options)"),
                 highlight=False, markup=False)
    raise typer.Exit(PENDING_EXIT_CODE)


def _write_report(run_dir: Path) -> None:
    from nl2opt.evaluation.reporting import write_report

    files = write_report(run_dir)
    console.print(f"wrote {files.markdown}, {files.html}, {files.summary}", highlight=False)


def report_command(run_dir: Path = typer.Argument(..., help="An `nl2opt eval` --out "
                                                  "directory.")) -> None:
    """Write report.md, report.html and summary.json for an evaluation run."""
    from nl2opt.evaluation.reporting import load_run, summarize_run

    try:
        _write_report(run_dir)
        summary = summarize_run(*load_run(run_dir))
    except Nl2OptError as error:
        _fail(str(error))
    from nl2opt.evaluation.reporting import headline_rows

    table = Table(show_header=False)
    for label, value in headline_rows(summary):
        table.add_row(label, value)
    console.print(table)


def compare_command(run_a: Path = typer.Argument(..., help="The baseline run directory."),
                    run_b: Path = typer.Argument(..., help="The run compared with it."),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per-problem flips (correct->wrong, wrong->correct) and the accuracy delta of B vs A."""
    from nl2opt.evaluation.compare import compare_runs
    from nl2opt.evaluation.reporting import percent

    for run in (run_a, run_b):
        if not (run / "results.jsonl").exists():
            _fail(f"{run} has no results.jsonl; pass two `nl2opt eval` --out directories.")
    comparison = compare_runs(run_a, run_b)
    if as_json:
        sys.stdout.write(json.dumps(comparison.to_dict(), indent=2) + "\n")
        return
    table = Table(title=f"{len(comparison.flips)} flips", show_lines=False)
    for column in ("uid", "change", "A", "B", "objective A", "objective B"):
        table.add_column(column, no_wrap=column in ("change", "A", "B"))
    for flip in comparison.flips:
        table.add_row(safe_terminal(flip.uid), flip.change, flip.before, flip.after,
                      _objective(flip.objective_before), _objective(flip.objective_after))
    console.print(table)
    delta = "n/a" if comparison.delta is None else f"{100 * comparison.delta:+.1f} points"
    console.print(f"on {comparison.common} items scored in both: A {percent(comparison.accuracy_a)}"
                  f", B {percent(comparison.accuracy_b)}, delta {delta} "
                  f"(+{len(comparison.gained)} / -{len(comparison.lost)}); only in A: "
                  f"{comparison.only_in_a}, only in B: {comparison.only_in_b}", highlight=False)


def _objective(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def register(app: typer.Typer) -> None:
    """Add `eval`, `report` and `compare` to a typer app."""
    app.command("eval")(eval_command)
    app.command("report")(report_command)
    app.command("compare")(compare_command)
