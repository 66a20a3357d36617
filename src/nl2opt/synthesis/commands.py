"""The `nl2opt synth` commands: list families, generate instances, run the full pipeline.

`register(app)` adds the `synth` sub-app to the main CLI.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
synth_app = typer.Typer(no_args_is_help=True, help="Synthesize verified problem/formulation "
                        "pairs (OptMATH-style): instances, labels, texts, SFT data. Without a "
                        "sub-command: the whole pipeline (needs --out).")
PENDING_EXIT = 3  # stopped cleanly: an offline batch must answer requests first


def _fail(message: str, code: int = 2):
    errors.print("[bold red]error:[/] ", end="")
    errors.print(message, highlight=False, markup=False)
    raise typer.Exit(code)


def parse_band(text: str, what: str) -> tuple[float, float]:
    """'LO:HI' -> (LO, HI); a clear error otherwise."""
    low, sep, high = text.partition(":")
    try:
        band = (float(low), float(high))
    except ValueError:
        band = None
    if not sep or band is None or band[0] > band[1] or band[0] < 0:
        _fail(f"{what} must look like LO:HI with 0 <= LO <= HI, e.g. 50:150; got {text!r}")
    return band


@synth_app.command("families")
def families_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the problem families with their class, domain and size parameters."""
    from nl2opt.synthesis.families import FAMILIES

    if as_json:
        rows = [{"name": f.name, "title": f.title, "class": f.problem_class.value,
                 "domain": f.domain, "sizes": {s.name: [s.low, s.high] for s in f.sizes},
                 "example": f.example} for f in FAMILIES]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{len(FAMILIES)} families")
    for column in ("family", "class", "domain", "sizes (range)"):
        table.add_column(column)
    for family in FAMILIES:
        sizes = ", ".join(f"{s.name} {s.low}-{s.high}" for s in family.sizes)
        table.add_row(family.name, family.problem_class.value, family.domain, sizes)
    console.print(table)


class Progress:
    """A rich progress bar per phase (on stderr) with a running count of outcomes."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.progress = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[counts]}"), console=errors)
        self.task = None
        self.counts: Counter = Counter()

    def phase(self, name: str, done: int, todo: int) -> None:
        self.counts = Counter()
        self.task = self.progress.add_task(name, total=done + todo, completed=done, counts="")

    def advance(self, outcome: str) -> None:
        self.counts[outcome] += 1
        task = next(t for t in self.progress.tasks if t.id == self.task)
        if task.total is not None and task.completed >= task.total:  # augmented pairs
            self.progress.update(self.task, total=task.completed + 1)
        text = ", ".join(f"{k} {v}" for k, v in self.counts.most_common())
        decided = self.counts["accepted"] + self.counts["rejected"]
        if decided:
            text += f" ({100 * self.counts['accepted'] / decided:.0f}% accepted)"
        self.progress.update(self.task, advance=1, counts=text)


def _settings(families: str, per_family: int, complexity: str, solve_time: str,
              feasible_rate: float, infeasible_rate: float, unbounded_rate: float,
              tables: str, seed: int, tune: bool, **extra):
    from nl2opt.synthesis.families import select_families
    from nl2opt.synthesis.generate import RunSettings

    if tables not in ("auto", "inline", "files"):
        _fail(f"--tables must be auto, inline or files; got {tables!r}")
    if infeasible_rate + unbounded_rate > 1:
        _fail("--infeasible-rate plus --unbounded-rate must not exceed 1")
    names = [f.name for f in select_families(families)]
    return RunSettings(families=names, per_family=per_family, seed=seed,
                       complexity=parse_band(complexity, "--complexity"),
                       solve_seconds=parse_band(solve_time, "--solve-time"),
                       feasible_rate=feasible_rate, infeasible_rate=infeasible_rate,
                       unbounded_rate=unbounded_rate, tables=tables, tune=tune, **extra)


FamiliesOption = typer.Option("all", "--families", help="'all' or comma-separated family "
                              "names (see `nl2opt synth families`).")
PerFamilyOption = typer.Option(10, "--per-family", min=1, help="Instances per family.")
ComplexityOption = typer.Option("50:150", "--complexity", help="S(PD) band LO:HI.")
SolveTimeOption = typer.Option("0:30", "--solve-time", help="Solve-time band LO:HI in "
                               "seconds (OptMATH: 0.1:30); HI is also the time limit.")
FeasibleOption = typer.Option(0.9, "--feasible-rate", help="Least share of feasible "
                              "instances a tuned setting must give.")
InfeasibleOption = typer.Option(0.0, "--infeasible-rate", help="Share of instances made "
                                "infeasible on purpose (labelled so).")
UnboundedOption = typer.Option(0.0, "--unbounded-rate", help="Share made unbounded on "
                               "purpose, where the family allows it.")
TablesOption = typer.Option("auto", "--tables", help="auto: large tables go to CSV files; "
                            "inline: never; files: every indexed table.")
SeedOption = typer.Option(0, "--seed", help="Run seed (instances derive theirs from it).")
TuneOption = typer.Option(True, "--tune/--no-tune", help="Tune sizes with the feedback loop "
                          "(--no-tune: each family's smallest sizes).")
WorkersOption = typer.Option(2, "--workers", help="Worker processes (0 or 1: this process).")
OutOption = typer.Option(..., "--out", help="Output folder (problems.jsonl, data/, ...).")
ResumeOption = typer.Option(False, "--resume", help="Continue the run in --out.")
RayOption = typer.Option(None, "--ray", metavar="ADDRESS", help="Run on Ray ('local' starts "
                         "a cluster here, 'auto' joins the running one, or HOST:PORT) with "
                         "every CPU of it (docs/scaling.md).")


@synth_app.command("generate")
def generate_command(families: str = FamiliesOption, per_family: int = PerFamilyOption,
                     complexity: str = ComplexityOption, solve_time: str = SolveTimeOption,
                     feasible_rate: float = FeasibleOption,
                     infeasible_rate: float = InfeasibleOption,
                     unbounded_rate: float = UnboundedOption, tables: str = TablesOption,
                     seed: int = SeedOption, tune: bool = TuneOption,
                     workers: int = WorkersOption, out: Path = OutOption,
                     resume: bool = ResumeOption, ray: str | None = RayOption) -> None:
    """The LLM-free part: tune sizes, generate, solve, label and score instances
    (instances.jsonl with LaTeX statements, CSV tables under data/)."""
    try:
        settings = _settings(families, per_family, complexity, solve_time, feasible_rate,
                             infeasible_rate, unbounded_rate, tables, seed, tune)
        records = _generate(out, settings, resume, workers, ray=ray)
    except KeyboardInterrupt:
        _fail(f"interrupted; continue with the same command plus --resume (--out {out})", 130)
    except Nl2OptError as error:
        _fail(str(error))
    _print_instances(records, out)


def _generate(out: Path, settings, resume: bool, workers: int, proposer=None,
              ray: str | None = None):
    from nl2opt.cluster.runtime import execution
    from nl2opt.synthesis.generate import generate_instances

    progress = Progress()

    with execution(ray, workers=None if ray else workers, memory_mb=None,
                   time_limit=settings.solve_seconds[1], echo=_note) as runtime, \
            progress.progress:
        return generate_instances(out, settings, resume=resume, workers=runtime.workers,
                                  proposer=proposer, on_tuned=_print_tuned,
                                  on_start=lambda d, t: progress.phase("instances", d, t),
                                  on_instance=lambda r: progress.advance(r.answer_status),
                                  map_items=runtime.map_items)


def _note(message: str) -> None:
    errors.print(message, highlight=False, markup=False)


def _print_tuned(result) -> None:
    state = "reached" if result.reached else "NOT reached"
    errors.print(f"tuned {result.family}: {result.sizes} ({state}, {result.origin})"
                 + (f" - {result.note}" if result.note else ""), highlight=False,
                 markup=False)


def _print_instances(records, out: Path) -> None:
    counts = Counter((r.family, r.answer_status) for r in records)
    table = Table(title=f"{len(records)} instances in {out}")
    for column in ("family", "optimal", "infeasible", "unbounded", "other", "median S(PD)"):
        table.add_column(column)
    for family in dict.fromkeys(r.family for r in records):
        scores = sorted(r.complexity.get("score", 0) for r in records if r.family == family)
        other = sum(n for (f, s), n in counts.items()
                    if f == family and s not in ("optimal", "infeasible", "unbounded"))
        table.add_row(family, *(str(counts[(family, s)]) for s in
                                ("optimal", "infeasible", "unbounded")), str(other),
                      f"{scores[len(scores) // 2]:g}")
    console.print(table)


def _split(text: str, known: dict, what: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        _fail(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


LlmOption = typer.Option(None, "--llm", help="LLM spec (vllm:, openai:, batch:, replay:, "
                         "record:); default env NL2OPT_LLM.")
StylesOption = typer.Option("story,table,spec", "--styles", help="Text styles, chosen per "
                            "instance.")
CritiqueOption = typer.Option(3, "--critique-rounds", min=0, help="Critique/refine rounds.")
AugmentOption = typer.Option("", "--augment", help="Augmentations of accepted pairs: "
                             "rephrase, domain, parameters, constraint, objective "
                             "(comma-separated).")
LlmSettingsOption = typer.Option(False, "--llm-settings", help="Let the LLM propose sizes "
                                 "before the search.")
ForwardRoundsOption = typer.Option(3, "--forward-rounds", min=0, help="Repair rounds when "
                                   "formulating the texts again.")
BatchSizeOption = typer.Option(64, "--batch-size", min=1, help="Pairs per LLM wave.")
OptionalOutOption = typer.Option(None, "--out", help="Output folder.")


@synth_app.callback(invoke_without_command=True)
def synth_command(ctx: typer.Context, families: str = FamiliesOption,
                  per_family: int = PerFamilyOption, complexity: str = ComplexityOption,
                  solve_time: str = SolveTimeOption, feasible_rate: float = FeasibleOption,
                  infeasible_rate: float = InfeasibleOption,
                  unbounded_rate: float = UnboundedOption, tables: str = TablesOption,
                  seed: int = SeedOption, tune: bool = TuneOption,
                  llm: str | None = LlmOption, styles: str = StylesOption,
                  critique_rounds: int = CritiqueOption, augment: str = AugmentOption,
                  llm_settings: bool = LlmSettingsOption,
                  forward_rounds: int = ForwardRoundsOption,
                  batch_size: int = BatchSizeOption, workers: int = WorkersOption,
                  out: Path | None = OptionalOutOption,
                  resume: bool = ResumeOption, ray: str | None = RayOption) -> None:
    """Generate instances, write their texts, verify them and export the dataset."""
    if ctx.invoked_subcommand is not None:
        return
    from nl2opt.synthesis.texts import AUGMENTATIONS, STYLES

    if out is None:
        _fail("--out is required: the folder for problems.jsonl, data/, the SFT export")
    extra = {"llm": llm, "styles": _split(styles, STYLES, "style"),
             "critique_rounds": critique_rounds, "llm_settings": llm_settings,
             "augment": _split(augment, AUGMENTATIONS, "augmentation")}
    try:
        settings = _settings(families, per_family, complexity, solve_time, feasible_rate,
                             infeasible_rate, unbounded_rate, tables, seed, tune, **extra)
        _synthesize(out, settings, resume, workers, batch_size, forward_rounds, ray)
    except KeyboardInterrupt:
        _fail(f"interrupted; continue with the same command plus --resume (--out {out})", 130)
    except Nl2OptError as error:
        _fail(str(error))


def _synthesize(out: Path, settings, resume: bool, workers: int, batch_size: int,
                forward_rounds: int, ray: str | None = None) -> None:
    from nl2opt.cluster.runtime import execution
    from nl2opt.llm.spec import default_spec
    from nl2opt.synthesis.llm_calls import SynthPending
    from nl2opt.synthesis.outputs import write_outputs
    from nl2opt.synthesis.run import RunHooks, synthesize

    spec = settings.llm or default_spec()
    progress = Progress()
    hooks = RunHooks(on_start=lambda d, t: progress.phase("instances", d, t),
                     on_instance=lambda r: progress.advance(r.answer_status),
                     on_tuned=_print_tuned,
                     on_pairs=lambda d, t: progress.phase("pairs", d, t),
                     on_record=lambda r: progress.advance(
                         "accepted" if r.acceptance.accepted else "rejected"))
    try:
        with execution(ray, workers=None if ray else workers, memory_mb=None,
                       time_limit=settings.solve_seconds[1], echo=_note) as runtime, \
                progress.progress:
            synthesize(out, settings, runtime.make_llm(spec), llm_name=spec, resume=resume,
                       workers=runtime.workers, batch_size=batch_size,
                       forward_rounds=forward_rounds, hooks=hooks,
                       solve_pool=runtime.solve_pool, map_items=runtime.map_items)
    except SynthPending as pending:
        written = write_outputs(out)
        errors.print(f"{pending}\nThe answered part is written ({written.summary()}). Answer "
                     "the queued requests, then run the same command with --resume.",
                     highlight=False, markup=False)
        raise typer.Exit(PENDING_EXIT) from None
    written = write_outputs(out)
    console.print(f"{written.summary()} -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `nl2opt synth ...` to the main CLI."""
    app.add_typer(synth_app, name="synth")

