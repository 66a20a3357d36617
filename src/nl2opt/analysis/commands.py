"""CLI: `nl2opt export` (wired in by `register(app)`) and the `solve --sensitivity` output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from nl2opt.errors import Nl2OptError
from nl2opt.text import escape_controls

FORMATS = ("lp", "mps", "latex", "json", "pyomo", "csv", "xlsx")


def register(app: typer.Typer) -> None:
    """Add the `export` command to a typer app."""

    @app.command("export")
    def export(formulation: Path = typer.Argument(..., help="A formulation JSON file."),
               fmt: str = typer.Option("lp", "--format", "-f",
                                       help="lp, mps, latex, json, pyomo (the model); csv or "
                                            "xlsx (the solution, solved first)."),
               output: Path | None = typer.Option(None, "--output", "-o",
                                                     help="Write here (default: stdout; "
                                                          "xlsx needs a file)."),
               solver: str | None = typer.Option(None, "--solver", "-s",
                                                    help="Solver for csv/xlsx."),
               data_dir: Path | None = typer.Option(None, "--data-dir",
                                                       help="Folder the CSV sources are read "
                                                            "from (default: the file's).")
               ) -> None:
        """Write a formulation as LP, MPS, LaTeX, JSON or a Pyomo script, or its solution
        as CSV or Excel; LP and MPS come from the compiled model, for any solver."""
        from nl2opt.cli import _fail, _load, _write_output

        if fmt not in FORMATS:
            _fail(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
        if fmt == "xlsx" and output is None:
            _fail("xlsx is a binary file: give --output FILE.xlsx")
        model = _load(formulation, data_dir)
        try:
            exported = _export(model, fmt, solver)
        except Nl2OptError as error:
            _fail(str(error))
        if output is None:  # a terminal, maybe: controls escaped, as `nl2opt code` does
            sys.stdout.write(escape_controls(exported.data.decode("utf-8")))
            return
        _write_output(output, exported.data)


def _export(model, fmt: str, solver: str | None):
    from nl2opt.analysis.exports import MODEL_FORMATS, export_model, export_solution

    if fmt in MODEL_FORMATS:
        return export_model(model, fmt)
    from nl2opt.api import solve_formulation

    return export_solution(solve_formulation(model, solver=solver), fmt)


def sensitivity_lines(formulation, result) -> list[str]:
    """The sensitivity sentences for a solved formulation, or why there are none."""
    from nl2opt.analysis.sensitivity_text import sensitivity_text
    from nl2opt.solvers.sensitivity import sensitivity

    if result is None or result.termination.value != "optimal":
        return ["sensitivity: only an optimal plan has one"]
    try:
        text = sensitivity_text(formulation, sensitivity(formulation))
    except Nl2OptError as error:
        return [f"sensitivity: {error}"]
    lines = ["Sensitivity:"] + [f"- {s}" for s in text.limits + text.unused + text.stability]
    return lines + ([text.note] if text.note else [])


def with_sensitivity_json(formulation, result) -> str:
    """The result as JSON with a "sensitivity" entry (null when there is none)."""
    from nl2opt.solvers.sensitivity import sensitivity

    data = json.loads(result.model_dump_json())
    try:
        data["sensitivity"] = json.loads(sensitivity(formulation).model_dump_json()) \
            if result.termination.value == "optimal" else None
    except Nl2OptError:
        data["sensitivity"] = None
    return json.dumps(data, indent=2) + "\n"
