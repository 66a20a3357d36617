"""`nl2opt library ...`: learn, refine, import, and browse/edit an experience library.

`register(app)` adds the `library` command group to the main CLI.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError
from nl2opt.library.options import embeddings_option, print_warning
from nl2opt.text import escape_controls, safe_terminal

# Insights come from LLMs and from imported files: their text is shown as typed (no
# emoji codes, no markup, control characters escaped; see nl2opt.text).
console = Console(soft_wrap=True, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)
library_app = typer.Typer(no_args_is_help=True, help="The experience library: insights learned "
                          "from failures, used when formulating (`--library FILE`).")

PENDING_EXIT = 3  # a batch run is waiting for its answers: not a failure
LibraryArg = typer.Option(..., "--library", "-l", help="The library file (SQLite).")
LlmOption = typer.Option(None, "--llm", help="LLM spec (vllm:, openai:, batch:, replay:, "
                         "record:); default env NL2OPT_LLM.")


def _fail(message: str, code: int = 2):
    errors.print("[bold red]error:[/] ", end="")
    errors.print(escape_controls(message), highlight=False, markup=False)
    raise typer.Exit(code)


def _note(message: str) -> None:
    errors.print(escape_controls(message), highlight=False, markup=False)


def _pending(error, command: str):
    errors.print(f"[bold yellow]waiting for the LLM:[/] {error}", highlight=False)
    errors.print(f"then continue with: {command} --resume", highlight=False, markup=False)
    raise typer.Exit(PENDING_EXIT)


def _embedding_client(spec: str | None):
    """The --embeddings client (raises on a bad spec; a failing endpoint only warns)."""
    from nl2opt.library.retrieval import embedding_client

    return embedding_client(spec, print_warning)


def _open(path: Path, create: bool = False):
    from nl2opt.library.store import LibraryStore

    try:
        return LibraryStore(path, create=create)
    except Nl2OptError as error:
        _fail(str(error))


@library_app.command("learn")
def learn_command(
        source: str = typer.Argument(..., help="Training data: a dataset name, a JSON/JSONL "
                                     "file (e.g. AlphaOPT's *_train.json), or an `nl2opt eval` "
                                     "run directory (its failures)."),
        library: Path = LibraryArg, llm: Optional[str] = LlmOption,
        limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N tasks."),
        resume: bool = typer.Option(False, "--resume", help="Continue this run: finished "
                                    "tasks are skipped, answered requests reused."),
        run: Optional[str] = typer.Option(None, "--run", help="Run name (default: the "
                                          "source's name)."),
        rounds: int = typer.Option(3, "--rounds", help="Self-correction rounds per solve."),
        batch_size: int = typer.Option(16, "--batch-size", help="Tasks per chunk."),
        explore_tries: int = typer.Option(3, "--explore-tries", help="Self-exploration tries "
                                          "for answer-only tasks."),
        verify_attempts: int = typer.Option(2, "--verify-attempts", help="Diagnoses per "
                                            "failure before giving up."),
        workers: int = typer.Option(0, "--workers", help="Solve processes (0: in-process)."),
        time_limit: float = typer.Option(60.0, "--time-limit", help="Solver seconds."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where datasets are."),
        embeddings: Optional[str] = embeddings_option(),
        ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS", help="Run on Ray "
                                          "('local', 'auto' or HOST:PORT): solves as Ray "
                                          "tasks, vllm: as Ray Data replicas "
                                          "(docs/scaling.md).")
) -> None:
    """Learn verified insights from the failures on labelled training data."""
    from nl2opt.cluster.runtime import execution
    from nl2opt.library.learn import LearnOptions, learn
    from nl2opt.library.solving import LearningPending
    from nl2opt.library.tasks import load_tasks
    from nl2opt.llm.spec import default_spec

    cluster = ExitStack()  # this machine, or the Ray cluster of --ray, until the end
    try:
        found = load_tasks(source, data_dir, limit)
        runtime = cluster.enter_context(execution(ray, workers=None if ray else workers,
                                                  memory_mb=None, time_limit=time_limit,
                                                  echo=_note))
        backend = runtime.make_llm(llm or default_spec())
        client = _embedding_client(embeddings)
    except Nl2OptError as error:
        cluster.close()
        _fail(str(error))
    name = run or found.name
    store = _open(library, create=True)
    with cluster, store:
        if store.journal_keys(f"{name}/") and not resume:
            _fail(f"{library} already holds learning run {name!r}. Pass --resume to continue "
                  "it, or --run NAME to start another.")
        _record_run_successes(store, found.run_records)
        options = LearnOptions(run=name, rounds=rounds, batch_size=batch_size,
                               explore_tries=explore_tries, verify_attempts=verify_attempts,
                               workers=runtime.workers, time_limit=time_limit,
                               embeddings=client)
        command = (f"nl2opt library learn {source} --library {library} --llm {llm or '...'}"
                   + (f" --embeddings {embeddings}" if embeddings else ""))
        try:
            with console.status("learning...") as status:
                summary = learn(store, backend, found.tasks, options,
                                lambda line: status.update(line), runtime.solve_pool)
        except LearningPending as error:
            _pending(error, command)
        except Nl2OptError as error:
            _fail(f"{error}\nFinished tasks are kept; continue with: {command} --resume")
        _print_learn_summary(summary, len(found.tasks), store)


def _record_run_successes(store, records) -> None:
    """An evaluation run's correct answers count as positive for the insights they used."""
    from nl2opt.library.model import Outcome

    for record in records:
        if record.correct:
            for insight_id in record.insight_ids:
                store.record_outcomes(insight_id, [(Outcome.positive, record.uid)])


def _print_learn_summary(summary, total: int, store) -> None:
    from nl2opt.library.learn import OUTCOMES
    from nl2opt.library.model import Status

    table = Table("outcome", "tasks", title=f"{total} task(s), {summary.skipped} finished "
                  "before")
    for outcome in OUTCOMES:
        table.add_row(outcome, str(summary.count(outcome)))
    console.print(table)
    console.print(f"new verified insights: {len(summary.insights)}, merged: "
                  f"{len(summary.merged)}; library now holds {store.count(Status.verified)} "
                  "verified insight(s)", highlight=False)


@library_app.command("refine")
def refine_command(
        library: Path = LibraryArg, llm: Optional[str] = LlmOption,
        variants: int = typer.Option(3, "--variants", help="Candidate conditions per insight."),
        min_negative: int = typer.Option(2, "--min-negative", help="Retire an insight that "
                                         "misled at least this many tasks, more than it "
                                         "helped."),
        embeddings: Optional[str] = embeddings_option()) -> None:
    """Rewrite conditions that retrieve badly (AlphaOPT's score) and retire harmful insights."""
    from nl2opt.library.refine import RefineOptions, refine
    from nl2opt.library.solving import LearningPending
    from nl2opt.llm.spec import make_llm

    with _open(library) as store:
        try:
            options = RefineOptions(variants=variants, min_negative=min_negative,
                                    embeddings=_embedding_client(embeddings))
            with console.status("refining..."):
                summary = refine(store, make_llm(llm), options)
        except LearningPending as error:
            _pending(error, f"nl2opt library refine --library {library} --llm {llm or '...'}"
                            + (f" --embeddings {embeddings}" if embeddings else ""))
        except Nl2OptError as error:
            _fail(str(error))
    table = Table("insight", "score before", "after", "new condition",
                  title=f"{summary.examined} insight(s) examined")
    for rewrite in summary.rewrites:
        table.add_row(safe_terminal(rewrite.insight_id), f"{rewrite.score_before:.2f}",
                      f"{rewrite.score_after:.2f}", safe_terminal(rewrite.after[:100]))
    console.print(table)
    console.print(f"retired: {safe_terminal(', '.join(summary.retired)) or 'none'}",
                  highlight=False)


@library_app.command("import-alphaopt")
def import_alphaopt_command(
        source: Path = typer.Argument(..., help="AlphaOPT's library.json (e.g. ../shared/"
                                      "datasets/alphaopt/experience_library/library.json)."),
        library: Path = LibraryArg,
        llm: Optional[str] = typer.Option(None, "--llm", help="Rewrite examples into nl2opt's "
                                          "language and verify on the source tasks with this "
                                          "LLM; without it insights stay candidates."),
        split_dir: Optional[Path] = typer.Option(None, "--split-dir", help="AlphaOPT's "
                                                 "optimization_tasks/split (default: beside "
                                                 "the library file)."),
        workers: int = typer.Option(0, "--workers", help="Solve processes.")) -> None:
    """Seed the library from AlphaOPT's published insights (MIT)."""
    from nl2opt.library.alphaopt import import_alphaopt
    from nl2opt.library.solving import LearningPending
    from nl2opt.llm.spec import make_llm

    with _open(library, create=True) as store:
        try:
            with console.status("importing..."):
                summary = import_alphaopt(store, source, make_llm(llm) if llm else None,
                                          split_dir, workers=workers)
        except LearningPending as error:
            _pending(error, f"nl2opt library import-alphaopt {source} --library {library} "
                            f"--llm {llm}")
        except Nl2OptError as error:
            _fail(str(error))
    console.print(f"imported {len(summary.imported)} insight(s); verified "
                  f"{len(summary.verified)}, left as candidates {len(summary.unverified)}",
                  highlight=False)
    for reason, count in sorted(summary.dropped.items()):
        console.print(f"dropped {count}: {reason}", highlight=False, markup=False)


@library_app.command("retrieve")
def retrieve_command(
        problem: str = typer.Argument(..., help="A problem statement."),
        library: Path = LibraryArg,
        llm: Optional[str] = typer.Option(None, "--llm", help="Also predict taxonomy labels "
                                          "and check conditions with this LLM, as formulating "
                                          "does; without it, the ranked candidates."),
        embeddings: Optional[str] = embeddings_option(),
        candidates: int = typer.Option(10, "--candidates", help="Candidates to rank.")) -> None:
    """Show the insights retrieval picks for a problem (try a library or an endpoint)."""
    from nl2opt.library.retrieval import RetrievalOptions, open_retriever
    from nl2opt.llm.spec import make_llm

    checked = llm is not None
    options = RetrievalOptions(candidates=candidates, labels=checked, check=checked)
    with _open(library) as store:
        try:
            retriever = open_retriever(store, make_llm(llm) if checked else None, options,
                                       embeddings, print_warning)
            found = (retriever.retrieve(problem) if checked
                     else retriever.candidates_many([problem])[0])
        except Nl2OptError as error:
            _fail(str(error))
    table = Table("rank", "id", "taxonomy", "condition", title=f"{len(found)} insight(s) "
                  + ("applicable (LLM-checked)" if checked else "ranked (no LLM check)"))
    for rank, insight in enumerate(found, 1):
        table.add_row(str(rank), insight.id, insight.label, insight.condition[:120])
    console.print(table)


@library_app.command("list")
def list_command(library: Path = LibraryArg,
                 status: Optional[str] = typer.Option(None, "--status", help="candidate, "
                                                      "verified or retired"),
                 search: Optional[str] = typer.Option(None, "--search", help="Words that must "
                                                      "all occur.")) -> None:
    """List insights (id, status, taxonomy, statistics, condition)."""
    from nl2opt.library.model import Status

    try:
        chosen = Status(status) if status else None
    except ValueError:
        _fail(f"unknown status {status!r}; use candidate, verified or retired")
    with _open(library) as store:
        insights = store.search(search, chosen) if search else store.list(chosen)
    table = Table("id", "status", "taxonomy", "+/-", "condition")
    for insight in insights:
        counts = insight.stats.counts()
        table.add_row(safe_terminal(insight.id), insight.status.value,
                      safe_terminal(insight.label), f"{counts['positive']}/{counts['negative']}",
                      safe_terminal(insight.condition[:120]))
    console.print(table)


@library_app.command("show")
def show_command(insight_id: str = typer.Argument(...), library: Path = LibraryArg) -> None:
    """Show one insight in full, with its statistics and version history."""
    with _open(library) as store:
        try:
            insight = store.require(insight_id)
        except Nl2OptError as error:
            _fail(str(error))
        history = store.history(insight_id)
    console.print(insight.model_dump_json(indent=2), highlight=False, markup=False)
    for version in history:
        console.print(f"v{version.version} {version.changed_at} {version.reason}",
                      highlight=False, markup=False)


@library_app.command("edit")
def edit_command(insight_id: str = typer.Argument(...), library: Path = LibraryArg,
                 condition: Optional[str] = typer.Option(None, "--condition"),
                 explanation: Optional[str] = typer.Option(None, "--explanation"),
                 example: Optional[str] = typer.Option(None, "--example")) -> None:
    """Change an insight's text (a new version; the old one stays in the history)."""
    with _open(library) as store:
        try:
            updated = store.edit(insight_id, condition=condition, explanation=explanation,
                                 example=example, reason="edited on the command line")
        except Nl2OptError as error:
            _fail(str(error))
    console.print(f"{safe_terminal(updated.id)} is now version {updated.version}")


def _set_status(insight_id: str, library: Path, approve: bool, note: str) -> None:
    with _open(library) as store:
        try:
            insight = (store.approve(insight_id, note) if approve
                       else store.retire(insight_id, note))
        except Nl2OptError as error:
            _fail(str(error))
    console.print(f"{safe_terminal(insight.id)}: {insight.status.value} (version "
                  f"{insight.version})")


@library_app.command("approve")
def approve_command(insight_id: str = typer.Argument(...), library: Path = LibraryArg,
                    note: str = typer.Option("approved by a person", "--note")) -> None:
    """Mark an insight verified by a person (retrieval uses verified insights)."""
    _set_status(insight_id, library, True, note)


@library_app.command("retire")
def retire_command(insight_id: str = typer.Argument(...), library: Path = LibraryArg,
                   note: str = typer.Option("retired by a person", "--note")) -> None:
    """Stop using an insight (it stays in the file, with its history)."""
    _set_status(insight_id, library, False, note)


@library_app.command("export")
def export_command(output: Path = typer.Argument(..., help="The JSONL file to write."),
                   library: Path = LibraryArg,
                   full: bool = typer.Option(False, "--full", help="Also every version and "
                                             "the training tasks.")) -> None:
    """Write the library as JSONL (one insight a line, stable order: diffs well in git)."""
    from nl2opt.library.exchange import export_jsonl

    with _open(library) as store:
        try:
            count = export_jsonl(store, output, full)
        except Nl2OptError as error:
            _fail(str(error))
    console.print(f"wrote {count} insight(s) to {safe_terminal(output)}")


@library_app.command("import")
def import_command(source: Path = typer.Argument(..., help="A JSONL export."),
                   library: Path = LibraryArg) -> None:
    """Read a JSONL export into the library (newer versions win)."""
    from nl2opt.library.exchange import import_jsonl

    with _open(library, create=True) as store:
        try:
            counts = import_jsonl(store, source)
        except Nl2OptError as error:
            _fail(str(error))
    console.print(f"imported {counts.insights} insight(s); kept {counts.kept_newer} newer "
                  "local one(s)")


def register(app: typer.Typer) -> None:
    """Add the `library` command group to a typer app."""
    app.add_typer(library_app, name="library")
