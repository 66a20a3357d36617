"""The `nl2opt` command line."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError
from nl2opt.library.options import embeddings_option, print_warning
from nl2opt.text import escape_controls, safe_terminal

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="nl2opt: from a decision problem to a checked optimization model, "
                       "solver code and an answer.")
# Long messages stay on one line (greppable); no emoji codes, so data such as
# "root:x:0:0" prints as written. Untrusted text goes through safe_terminal.
console = Console(soft_wrap=True, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

FormulationArg = typer.Argument(..., help="A formulation JSON file (nl2opt.formulation/1).")
DataDirOption = typer.Option(None, "--data-dir", help="Folder the formulation's CSV files are "
                             "read from (only files inside it). Default: the formulation "
                             "file's folder; for a problem statement, none (no CSV is read).")


MAX_FORMULATION_BYTES = 64 * 2**20  # larger data belongs in CSV files


def _load(path: Path, data_dir: Path | None = None):
    from pydantic import ValidationError

    from nl2opt.formulation.model import load_formulation

    if not path.exists():
        _fail(f"no such file: {path}")
    if not path.is_file():
        _fail(f"{path} is not a regular file; give a formulation .json file")
    if path.stat().st_size > MAX_FORMULATION_BYTES:
        _fail(f"{path} is {path.stat().st_size / 2**20:.0f} MB; formulation files are limited "
              f"to {MAX_FORMULATION_BYTES // 2**20} MB. Put large data in CSV files "
              "(a 'csv' source on the set or parameter)")
    try:
        formulation = load_formulation(path)
        return formulation.with_data_dir(data_dir) if data_dir else formulation
    except ValidationError as error:
        lines = [f"- {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        _fail(f"{path} is not a valid nl2opt formulation:\n" + "\n".join(lines[:20])
              + "\nSee `nl2opt schema` for the format.")
    except ValueError as error:
        _fail(f"{path} is not valid JSON: {error}")


def _fail(message: str, code: int = 2):
    errors.print("[bold red]error:[/] ", end="")
    errors.print(safe_terminal(message), highlight=False)
    raise typer.Exit(code)


def _write_output(output: Path, data: str | bytes) -> None:
    """Write an -o file and say so; a folder, a missing folder or a refused write is an
    error saying which, not a traceback."""
    try:
        if isinstance(data, str):
            output.write_text(data, encoding="utf-8")
        else:
            output.write_bytes(data)
    except OSError as error:
        _fail(f"cannot write {output} ({error.strerror or error}); give a file path in an "
              "existing, writable folder")
    console.print(f"wrote {safe_terminal(output)}", highlight=False)


@contextmanager
def _memory_capped(what: str) -> Iterator[None]:
    """Run a command's model work under the memory cap (NL2OPT_MEMORY_MB), so an oversized
    model ends in a clear error instead of exhausting the machine."""
    from nl2opt.formulation.limits import memory_capped

    try:
        with memory_capped(what):
            yield
    except Nl2OptError as error:
        _fail(str(error))


LlmOption = typer.Option(None, "--llm", help="LLM spec, e.g. vllm:Qwen/Qwen3-8B, "
                         "openai:MODEL@http://host:port/v1, batch:DIR, replay:FILE. "
                         "Default: env NL2OPT_LLM, then vLLM in-process.")


def _problem_text(source: str) -> str:
    path = Path(source)
    try:
        is_file = len(source) < 4096 and "\n" not in source and path.is_file()
    except OSError:  # e.g. longer than a file name may be: it is the statement itself
        is_file = False
    return path.read_text(encoding="utf-8") if is_file else source


LibraryOption = typer.Option(None, "--library", help="An experience library file (see "
                             "`nl2opt library`): insights that apply go into the prompt.")


def _embedding_client(embeddings: str | None, library: Path | None):
    """The --embeddings client, warning on the terminal if its endpoint fails later; a bad
    spec, or --embeddings without --library, stops here."""
    if not embeddings:
        return None
    if library is None:
        _fail("--embeddings ranks an experience library's insights: add --library FILE.")
    from nl2opt.library.embeddings import EmbeddingClient

    try:
        return EmbeddingClient.from_spec(embeddings, print_warning)
    except Nl2OptError as error:
        _fail(str(error))


def _is_formulation_file(source: str) -> bool:
    return source.endswith(".json") and "\n" not in source


@app.command()
def solve(source: str = typer.Argument(..., help="A formulation .json file, a text file with "
                                       "a problem statement, or the statement itself."),
          llm: Optional[str] = LlmOption,
          solver: Optional[str] = typer.Option(None, "--solver", "-s",
                                               help="highs, cpsat, pyomo-highs or scip; "
                                                    "default: chosen by problem class."),
          time_limit: Optional[float] = typer.Option(None, "--time-limit", "-t",
                                                     help="Seconds per solve."),
          rounds: int = typer.Option(3, "--rounds", help="Self-correction rounds (text input)."),
          samples: int = typer.Option(1, "--samples", help="Formulations to sample and vote "
                                      "on (text input)."),
          as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
          log: bool = typer.Option(False, "--log", help="Include the solver log."),
          review: Optional[bool] = typer.Option(
              None, "--review/--no-review", help="Check the solved model against the text "
              "(fact coverage, LLM review) and repair; default: on when --rounds > 0."),
          vote: str = typer.Option("equivalence", "--vote", help="How --samples vote: "
                                   "equivalence (of the models) or objective (value)."),
          library: Optional[Path] = LibraryOption,
          embeddings: Optional[str] = embeddings_option(),
          data_dir: Optional[Path] = DataDirOption,
          sensitivity: bool = typer.Option(False, "--sensitivity", help="Also print shadow "
                                           "prices, reduced costs and ranges (LP; for a MILP "
                                           "the LP with its integer choices fixed).")) -> None:
    """Solve a formulation file, or formulate and solve a problem statement with the LLM."""
    if _is_formulation_file(source):
        _solve_file(_load(Path(source), data_dir), solver, time_limit, as_json, log,
                    sensitivity)
        return
    from nl2opt.api import solve as solve_any

    with console.status("formulating and solving...", spinner="dots"):
        try:
            report = solve_any(_problem_text(source), llm=llm, solver=solver, rounds=rounds,
                               samples=samples, time_limit=time_limit, library=library,
                               library_embeddings=_embedding_client(embeddings, library),
                               review=review, vote=vote, data_dir=data_dir)
        except Nl2OptError as error:
            _fail(str(error))
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print_report(report)
        if sensitivity and report.formulation is not None:
            _print_sensitivity(report.formulation, report.result)
    raise typer.Exit(0 if report.result is not None else 1)


def _solve_file(model, solver, time_limit, as_json: bool, log: bool,
                sensitivity: bool = False) -> None:
    from nl2opt.analysis.commands import with_sensitivity_json
    from nl2opt.api import solve_formulation

    with _memory_capped("Solving"):
        result = solve_formulation(model, solver=solver, time_limit=time_limit, log=log)
    if as_json:
        sys.stdout.write(with_sensitivity_json(model, result) if sensitivity
                         else result.model_dump_json(indent=2) + "\n")
        return
    _print_result(result)
    if result.termination.value == "optimal":
        from nl2opt.pipeline.explain import explain

        console.print(safe_terminal(explain(model, result)), highlight=False)
    if sensitivity:
        _print_sensitivity(model, result)


def _print_sensitivity(model, result) -> None:
    from nl2opt.analysis.commands import sensitivity_lines

    console.print(safe_terminal("\n".join(sensitivity_lines(model, result))), highlight=False)


@app.command()
def demo() -> None:
    """Formulate and solve a bundled problem without a GPU or LLM server."""
    from nl2opt.llm.demo import demo_backend, demo_problem
    from nl2opt.pipeline.run import PipelineOptions, solve_text

    problem = demo_problem()
    console.print("[bold]Demo[/]: no LLM is needed. nl2opt replays a recorded, hand-written "
                  "answer for this problem through the real pipeline (prompt, reply parsing, "
                  "checks, compilation, HiGHS, explanation). For a real model use "
                  "`nl2opt solve TEXT --llm vllm:Qwen/Qwen3-8B` on a GPU, or "
                  "`--llm openai:MODEL@http://host:port/v1` for any OpenAI-compatible server.\n")
    console.print(problem, highlight=False)
    try:
        report = solve_text(problem, demo_backend(), PipelineOptions())
    except Nl2OptError as error:
        _fail(str(error))
    _print_report(report)
    console.print("\nPyomo code for this model: `nl2opt code examples/bakery_lp.json`")


@app.command()
def formulate(source: str = typer.Argument(..., help="A problem statement or a text file."),
              output: Optional[Path] = typer.Option(None, "--output", "-o",
                                                    help="Write the formulation JSON here."),
              llm: Optional[str] = LlmOption,
              rounds: int = typer.Option(3, "--rounds", help="Self-correction rounds."),
              library: Optional[Path] = LibraryOption,
              embeddings: Optional[str] = embeddings_option()) -> None:
    """Turn a problem statement into a checked five-element formulation (JSON)."""
    from nl2opt.api import formulate as formulate_text

    with console.status("formulating...", spinner="dots"):
        try:
            formulation = formulate_text(_problem_text(source), llm=llm, rounds=rounds,
                                         library=library, library_embeddings=_embedding_client(
                                             embeddings, library))
        except Nl2OptError as error:
            _fail(str(error))
    if output is None:
        sys.stdout.write(formulation.to_json() + "\n")
    else:
        _write_output(output, formulation.to_json() + "\n")


def _print_report(report) -> None:
    if report.formulation is not None:
        from nl2opt.formulation.render_text import render_text

        console.print(safe_terminal(render_text(report.formulation)), highlight=False)
        console.print()
    if report.result is not None:
        _print_result(report.result)
        console.print(safe_terminal(report.explanation), highlight=False)
    if report.agreement is not None:
        console.print(f"samples agreeing with the answer: {report.agreement:.0%} "
                      f"({len(report.samples)} samples)")
    from nl2opt.pipeline.report import semantic_lines

    for line in semantic_lines(report):
        console.print(line, highlight=False, markup=False)
    table = Table("sample", "round", "stage", "outcome", "problems", "tokens",
                  title="attempts")
    for attempt in report.attempts:
        outcome = attempt.termination or "-"
        if attempt.objective is not None:
            outcome += f" {attempt.objective:.6g}"
        problems = "; ".join(p.splitlines()[0][:60] for p in attempt.problems if p.strip())
        table.add_row(str(attempt.sample), str(attempt.round), attempt.stage, outcome,
                      safe_terminal(problems or "-"),
                      str(attempt.prompt_tokens + attempt.completion_tokens or "-"))
    console.print(table)
    if report.insight_ids:
        console.print("experience-library insights used: " + ", ".join(report.insight_ids),
                      highlight=False, markup=False)
    if report.error:
        errors.print("[bold red]error:[/] ", end="")
        errors.print(safe_terminal(report.error), highlight=False)


def _print_result(result) -> None:
    console.print(f"[bold]{safe_terminal(result.summary())}[/]", highlight=False)
    if result.stopped_with_point:
        console.print("The values below are the best point found before the time limit, "
                      "not proven optimal; a longer --time-limit may improve them.")
    if result.diagnosis:
        console.print(safe_terminal(result.diagnosis), highlight=False)
    if result.log:
        console.print(safe_terminal(result.log), highlight=False)
    for variable in result.variables.values():
        table = Table(title=safe_terminal(variable.name), show_header=bool(variable.index))
        for name in variable.index or ["value"]:
            table.add_column(safe_terminal(name))
        if variable.index:
            table.add_column("value", justify="right")
        shown = [(k, v) for k, v in variable.values if abs(v) > 1e-9] or variable.values
        for key, value in shown[:50]:
            table.add_row(*[safe_terminal(k) for k in key], f"{value:.6g}")
        if len(shown) > 50:
            table.caption = f"{len(shown) - 50} more nonzero values; use --json for all"
        console.print(table)


@app.command()
def check(formulation: Path = FormulationArg,
          as_json: bool = typer.Option(False, "--json", help="Print issues as JSON."),
          data_dir: Optional[Path] = DataDirOption) -> None:
    """Validate a formulation; exit code 1 when it has errors."""
    from nl2opt.formulation.arrays import parse_or_raise
    from nl2opt.formulation.classify import classify
    from nl2opt.formulation.validate import Severity, validate

    model = _load(formulation, data_dir)
    with _memory_capped("Checking"):
        issues = validate(model)
        has_errors = any(i.severity is Severity.error for i in issues)
        if as_json:
            sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in issues], indent=2)
                             + "\n")
        else:
            _print_issues(issues)
            if not has_errors:
                problem_class = classify(model, parse_or_raise(model))
                console.print(f"[green]ok[/]: {problem_class.value}, {len(issues)} warning(s); "
                              f"CP-SAT: {safe_terminal(_cpsat_note(model, problem_class))}", highlight=False)
    raise typer.Exit(1 if has_errors else 0)


def _print_issues(issues) -> None:
    from nl2opt.formulation.validate import Severity

    for issue in issues:
        colour = "red" if issue.severity is Severity.error else "yellow"
        console.print(f"[{colour}]{issue.severity.value}[/] ", end="")
        console.print(f"{issue.element}: {issue.message}", highlight=False, markup=False)


def _cpsat_note(model, problem_class) -> str:
    if problem_class.value != "MILP":
        return f"not applicable ({problem_class.value})"
    from nl2opt.formulation.arrays import compile_arrays
    from nl2opt.solvers.cpsat import cpsat_refusal

    refusal = cpsat_refusal(compile_arrays(model))
    return "applicable (--solver cpsat)" if refusal is None else f"not applicable: {refusal}"


@app.command()
def schema() -> None:
    """Print the JSON Schema of nl2opt.formulation/1."""
    from nl2opt.formulation.model import formulation_json_schema

    sys.stdout.write(json.dumps(formulation_json_schema(), indent=2) + "\n")


@app.command()
def render(formulation: Path = FormulationArg,
           latex: bool = typer.Option(False, "--latex", help="LaTeX instead of Markdown."),
           data_dir: Optional[Path] = DataDirOption) -> None:
    """Render a formulation as Markdown (default) or LaTeX."""
    from nl2opt.formulation.render import render_latex, render_markdown

    model = _load(formulation, data_dir)
    try:
        text = render_latex(model) if latex else render_markdown(model)
        sys.stdout.write(escape_controls(text) + "\n")
    except Nl2OptError as error:
        _fail(str(error))


@app.command()
def code(formulation: Path = FormulationArg,
         output: Optional[Path] = typer.Option(None, "--output", "-o",
                                               help="Write the script here (default: stdout)."),
         solver: Optional[str] = typer.Option(None, "--solver", "-s",
                                              help="Pyomo solver name for the script."),
         data_dir: Optional[Path] = DataDirOption) -> None:
    """Emit a standalone, readable Pyomo script for a formulation that passes `check`
    (otherwise print the check's errors and exit with code 1)."""
    from nl2opt.formulation.validate import errors_only, validate
    from nl2opt.solvers.pyomo_code import emit_pyomo_script

    model = _load(formulation, data_dir)
    with _memory_capped("Writing the code"):
        problems = errors_only(validate(model))
        if problems:
            _print_issues(problems)
            errors.print("no code written: fix the errors above (see `nl2opt check`)",
                         highlight=False)
            raise typer.Exit(1)
        script = emit_pyomo_script(model, solver=solver)
    if output is None:
        sys.stdout.write(escape_controls(script))  # a file (-o) gets the script as is
    else:
        _write_output(output, script)


MAX_TIMEOUT = 86400.0


def _checked_timeout(timeout: float) -> float:
    if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        _fail(f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
              f"got {timeout:g}.")
    return timeout


def _reference_answer(against: Path):
    """Solve the --against formulation first: a bad one fails before the script runs."""
    from nl2opt.api import solve_formulation
    from nl2opt.sandbox.script_file import read_small_file

    try:
        read_small_file(against, "formulation")
        return solve_formulation(_load(against))
    except Nl2OptError as error:
        _fail(f"--against {against}: {error}")


@app.command("run-code")
def run_code(script: Path = typer.Argument(..., help="A Python model script (Pyomo, gurobipy, "
                                           "highspy...), e.g. written by an LLM."),
             against: Optional[Path] = typer.Option(None, "--against",
                                                    help="Cross-check with this formulation."),
             timeout: float = typer.Option(120.0, "--timeout", help="Wall-clock seconds."),
             unsafe_no_isolation: bool = typer.Option(
                 False, "--unsafe-no-isolation",
                 help="Run without the OS sandbox (bubblewrap + seccomp) where it cannot be "
                      "built: only for a script you wrote and trust."),
             as_json: bool = typer.Option(False, "--json", help="Print the check as JSON.")
             ) -> None:
    """Run a model script in the OS sandbox (no network, no host files, limited CPU and
    memory) and read its answer; scripts that never call nl2opt_report are read from the
    last model they built."""
    from nl2opt.pipeline.llm_code import CodeLimits, compare, run_script
    from nl2opt.sandbox.script_file import read_script

    timeout = _checked_timeout(timeout)
    try:
        code = read_script(script)
    except Nl2OptError as error:
        _fail(str(error))
    reference = None if against is None else _reference_answer(against)
    if unsafe_no_isolation:
        errors.print("warning: --unsafe-no-isolation: the script runs without the OS sandbox; "
                     "only rlimits and an audit hook it can disable stand in its way.",
                     highlight=False, markup=False)
    limits = CodeLimits(timeout=timeout, cpu_seconds=timeout,
                        unsafe_no_isolation=unsafe_no_isolation)
    try:
        check = run_script(code, limits)
    except Nl2OptError as error:  # SandboxUnavailable: no OS isolation here (fail closed)
        _fail(str(error))
    if reference is not None and check.reported_status is not None:
        check.agrees, check.message = compare(check.reported_status, check.reported_objective,
                                              reference)
    if as_json:
        sys.stdout.write(check.model_dump_json(indent=2, exclude={"code"}) + "\n")
    else:
        objective = "" if check.reported_objective is None else check.reported_objective
        console.print(safe_terminal(f"sandbox: {check.status}; reported: "
                                    f"{check.reported_status} {objective}"), highlight=False)
        console.print(safe_terminal(check.message), highlight=False)
    raise typer.Exit(0 if check.status == "ok" and (against is None or check.agrees) else 1)


@app.command()
def solvers() -> None:
    """List solver backends and whether they are available here."""
    from nl2opt.solvers.registry import AUTOMATIC, BACKENDS, get_backend

    table = Table("solver", "available", "problem classes", "automatic for")
    for name in BACKENDS:
        try:
            backend = get_backend(name)
            classes, ok = ", ".join(sorted(c.value for c in backend.supports)), "yes"
        except Nl2OptError as error:
            classes, ok = "", f"no ({error})"
        auto = ", ".join(c.value for c, n in AUTOMATIC.items() if n == name)
        table.add_row(name, safe_terminal(ok), classes, auto)
    console.print(table)


def _register_command_modules() -> None:
    """Commands that live beside their subject (evaluation, app, equivalence)."""
    from nl2opt.analysis.commands import register as register_export
    from nl2opt.app.commands import register as register_app
    from nl2opt.equivalence.commands import register as register_equiv
    from nl2opt.evaluation.audit_commands import register as register_audit
    from nl2opt.evaluation.eval_commands import register as register_eval
    from nl2opt.library.commands import register as register_library
    from nl2opt.synthesis.commands import register as register_synth

    register_eval(app)
    register_synth(app)
    register_audit(app)
    register_app(app)
    register_equiv(app)
    register_library(app)
    register_export(app)


_register_command_modules()

if __name__ == "__main__":
    app()
