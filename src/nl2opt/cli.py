"""The `nl2opt` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from nl2opt.errors import Nl2OptError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="nl2opt: from a decision problem to a checked optimization model, "
                       "solver code and an answer.")
console = Console(soft_wrap=True)  # long messages stay on one line, greppable
errors = Console(stderr=True, soft_wrap=True)

FormulationArg = typer.Argument(..., help="A formulation JSON file (nl2opt.formulation/1).")


def _load(path: Path):
    from pydantic import ValidationError

    from nl2opt.formulation.model import load_formulation

    if not path.exists():
        _fail(f"no such file: {path}")
    try:
        return load_formulation(path)
    except ValidationError as error:
        lines = [f"- {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        _fail(f"{path} is not a valid nl2opt formulation:\n" + "\n".join(lines[:20])
              + "\nSee `nl2opt schema` for the format.")
    except ValueError as error:
        _fail(f"{path} is not valid JSON: {error}")


def _fail(message: str, code: int = 2):
    errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


@app.command()
def solve(formulation: Path = FormulationArg,
          solver: Optional[str] = typer.Option(None, "--solver", "-s",
                                               help="highs, cpsat, pyomo-highs or scip; "
                                                    "default: chosen by problem class."),
          time_limit: Optional[float] = typer.Option(None, "--time-limit", "-t",
                                                     help="Seconds."),
          as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
          log: bool = typer.Option(False, "--log", help="Include the solver log.")) -> None:
    """Solve a formulation and print the answer (or why there is none)."""
    from nl2opt.api import solve_formulation

    model = _load(formulation)
    try:
        result = solve_formulation(model, solver=solver, time_limit=time_limit, log=log)
    except Nl2OptError as error:
        _fail(str(error))
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    _print_result(result)


def _print_result(result) -> None:
    console.print(f"[bold]{result.summary()}[/]", highlight=False)
    if result.diagnosis:
        console.print(result.diagnosis, highlight=False)
    if result.log:
        console.print(result.log, highlight=False, markup=False)
    for variable in result.variables.values():
        table = Table(title=f"{variable.name}", show_header=bool(variable.index))
        for name in variable.index or ["value"]:
            table.add_column(name)
        if variable.index:
            table.add_column("value", justify="right")
        shown = [(k, v) for k, v in variable.values if abs(v) > 1e-9] or variable.values
        for key, value in shown[:50]:
            table.add_row(*[str(k) for k in key], f"{value:.6g}")
        if len(shown) > 50:
            table.caption = f"{len(shown) - 50} more nonzero values; use --json for all"
        console.print(table)


@app.command()
def check(formulation: Path = FormulationArg,
          as_json: bool = typer.Option(False, "--json", help="Print issues as JSON.")) -> None:
    """Validate a formulation; exit code 1 when it has errors."""
    from nl2opt.formulation.arrays import prepare
    from nl2opt.formulation.classify import classify
    from nl2opt.formulation.validate import Severity, validate

    model = _load(formulation)
    issues = validate(model)
    has_errors = any(i.severity is Severity.error for i in issues)
    if as_json:
        sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in issues], indent=2) + "\n")
    else:
        for issue in issues:
            colour = "red" if issue.severity is Severity.error else "yellow"
            console.print(f"[{colour}]{issue.severity.value}[/] {issue.element}: "
                          f"{issue.message}", highlight=False)
        if not has_errors:
            parsed, _ = prepare(model)
            console.print(f"[green]ok[/]: {classify(model, parsed).value}, "
                          f"{len(issues)} warning(s)")
    raise typer.Exit(1 if has_errors else 0)


@app.command()
def schema() -> None:
    """Print the JSON Schema of nl2opt.formulation/1."""
    from nl2opt.formulation.model import formulation_json_schema

    sys.stdout.write(json.dumps(formulation_json_schema(), indent=2) + "\n")


@app.command()
def render(formulation: Path = FormulationArg,
           latex: bool = typer.Option(False, "--latex", help="LaTeX instead of Markdown.")
           ) -> None:
    """Render a formulation as Markdown (default) or LaTeX."""
    from nl2opt.formulation.render import render_latex, render_markdown

    model = _load(formulation)
    try:
        sys.stdout.write((render_latex(model) if latex else render_markdown(model)) + "\n")
    except Nl2OptError as error:
        _fail(str(error))


@app.command()
def code(formulation: Path = FormulationArg,
         output: Optional[Path] = typer.Option(None, "--output", "-o",
                                               help="Write the script here (default: stdout)."),
         solver: Optional[str] = typer.Option(None, "--solver", "-s",
                                              help="Pyomo solver name for the script.")) -> None:
    """Emit a standalone, readable Pyomo script for a formulation."""
    from nl2opt.solvers.pyomo_code import emit_pyomo_script

    model = _load(formulation)
    try:
        script = emit_pyomo_script(model, solver=solver)
    except Nl2OptError as error:
        _fail(str(error))
    if output is None:
        sys.stdout.write(script)
    else:
        output.write_text(script, encoding="utf-8")
        console.print(f"wrote {output}")


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
        table.add_row(name, ok, classes, auto)
    console.print(table)


if __name__ == "__main__":
    app()
