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
    errors.print("[bold red]error:[/] ", end="")
    errors.print(message, highlight=False, markup=False)
    raise typer.Exit(code)


LlmOption = typer.Option(None, "--llm", help="LLM spec, e.g. vllm:Qwen/Qwen3-8B, "
                         "openai:MODEL@http://host:port/v1, batch:DIR, replay:FILE. "
                         "Default: env NL2OPT_LLM, then vLLM in-process.")


def _problem_text(source: str) -> str:
    path = Path(source)
    if len(source) < 4096 and "\n" not in source and path.is_file():
        return path.read_text(encoding="utf-8")
    return source


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
          log: bool = typer.Option(False, "--log", help="Include the solver log.")) -> None:
    """Solve a formulation file, or formulate and solve a problem statement with the LLM."""
    if _is_formulation_file(source):
        _solve_file(Path(source), solver, time_limit, as_json, log)
        return
    from nl2opt.api import solve as solve_any

    with console.status("formulating and solving...", spinner="dots"):
        try:
            report = solve_any(_problem_text(source), llm=llm, solver=solver, rounds=rounds,
                               samples=samples, time_limit=time_limit)
        except Nl2OptError as error:
            _fail(str(error))
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print_report(report)
    raise typer.Exit(0 if report.result is not None else 1)


def _solve_file(path: Path, solver, time_limit, as_json: bool, log: bool) -> None:
    from nl2opt.api import solve_formulation

    model = _load(path)
    try:
        result = solve_formulation(model, solver=solver, time_limit=time_limit, log=log)
    except Nl2OptError as error:
        _fail(str(error))
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    _print_result(result)


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
              rounds: int = typer.Option(3, "--rounds", help="Self-correction rounds.")) -> None:
    """Turn a problem statement into a checked five-element formulation (JSON)."""
    from nl2opt.api import formulate as formulate_text

    with console.status("formulating...", spinner="dots"):
        try:
            formulation = formulate_text(_problem_text(source), llm=llm, rounds=rounds)
        except Nl2OptError as error:
            _fail(str(error))
    if output is None:
        sys.stdout.write(formulation.to_json() + "\n")
    else:
        output.write_text(formulation.to_json() + "\n", encoding="utf-8")
        console.print(f"wrote {output}")


def _print_report(report) -> None:
    if report.formulation is not None:
        from nl2opt.formulation.render_text import render_text

        console.print(render_text(report.formulation), highlight=False, markup=False)
        console.print()
    if report.result is not None:
        _print_result(report.result)
        console.print(report.explanation, highlight=False, markup=False)
    if report.agreement is not None:
        console.print(f"samples agreeing with the answer: {report.agreement:.0%} "
                      f"({len(report.samples)} samples)")
    table = Table("sample", "round", "stage", "outcome", "problems", "tokens",
                  title="attempts")
    for attempt in report.attempts:
        outcome = attempt.termination or "-"
        if attempt.objective is not None:
            outcome += f" {attempt.objective:.6g}"
        table.add_row(str(attempt.sample), str(attempt.round), attempt.stage, outcome,
                      "; ".join(p.splitlines()[0][:60] for p in attempt.problems) or "-",
                      str(attempt.prompt_tokens + attempt.completion_tokens or "-"))
    console.print(table)
    if report.error:
        errors.print("[bold red]error:[/] ", end="")
        errors.print(report.error, highlight=False, markup=False)


def _print_result(result) -> None:
    console.print(f"[bold]{result.summary()}[/]", highlight=False)
    if result.diagnosis:
        console.print(result.diagnosis, highlight=False, markup=False)
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
    from nl2opt.formulation.arrays import parse_or_raise
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
            console.print(f"[{colour}]{issue.severity.value}[/] ", end="")
            console.print(f"{issue.element}: {issue.message}", highlight=False, markup=False)
        if not has_errors:
            problem_class = classify(model, parse_or_raise(model))
            console.print(f"[green]ok[/]: {problem_class.value}, {len(issues)} warning(s); "
                          f"CP-SAT: {_cpsat_note(model, problem_class)}", highlight=False)
    raise typer.Exit(1 if has_errors else 0)


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


@app.command("run-code")
def run_code(script: Path = typer.Argument(..., help="A Python model script (Pyomo, gurobipy, "
                                           "highspy...), e.g. written by an LLM."),
             against: Optional[Path] = typer.Option(None, "--against",
                                                    help="Cross-check with this formulation."),
             timeout: float = typer.Option(120.0, "--timeout", help="Wall-clock seconds."),
             as_json: bool = typer.Option(False, "--json", help="Print the check as JSON.")
             ) -> None:
    """Run a model script in the sandbox (no network, limited CPU and memory) and read its
    answer; scripts that never call nl2opt_report are read from the last model they built."""
    from nl2opt.pipeline.llm_code import CodeLimits, compare, run_script

    if not script.exists():
        _fail(f"no such file: {script}")
    limits = CodeLimits(timeout=timeout, cpu_seconds=int(timeout))
    check = run_script(script.read_text(encoding="utf-8"), limits)
    if against is not None and check.reported_status is not None:
        from nl2opt.api import solve_formulation

        reference = solve_formulation(_load(against))
        check.agrees, check.message = compare(check.reported_status, check.reported_objective,
                                              reference)
    if as_json:
        sys.stdout.write(check.model_dump_json(indent=2, exclude={"code"}) + "\n")
    else:
        console.print(f"sandbox: {check.status}; reported: {check.reported_status} "
                      f"{'' if check.reported_objective is None else check.reported_objective}",
                      highlight=False)
        console.print(check.message, highlight=False, markup=False)
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
        table.add_row(name, ok, classes, auto)
    console.print(table)


def _register_command_modules() -> None:
    """Commands that live beside their subject (evaluation, app, equivalence)."""
    from nl2opt.app.commands import register as register_app
    from nl2opt.equivalence.commands import register as register_equiv
    from nl2opt.evaluation.audit_commands import register as register_audit
    from nl2opt.evaluation.eval_commands import register as register_eval
    from nl2opt.synthesis.commands import register as register_synth

    register_eval(app)
    register_synth(app)
    register_audit(app)
    register_app(app)
    register_equiv(app)


_register_command_modules()

if __name__ == "__main__":
    app()
