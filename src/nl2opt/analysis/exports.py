"""Everything an answer can be taken away as: the model and the solution, as files.

Model formats: `json` (the formulation itself, re-importable), `lp` and `mps`
(the compiled model written by HiGHS, readable by any solver), `latex` (the
five elements as a document body), `pyomo` (the standalone script). Solution
formats: `csv` (one row per nonzero-or-not value: variable, index elements,
value) and `xlsx` (a summary sheet plus one sheet per variable; needs openpyxl).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from dataclasses import dataclass

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.solvers.result import SolveResult

MODEL_FORMATS = ("json", "lp", "mps", "latex", "pyomo")
SOLUTION_FORMATS = ("csv", "xlsx")
_FILES = {"json": ("model.json", "application/json"), "lp": ("model.lp", "text/plain"),
          "mps": ("model.mps", "text/plain"), "latex": ("model.tex", "application/x-tex"),
          "pyomo": ("model.py", "text/x-python"), "csv": ("solution.csv", "text/csv"),
          "xlsx": ("solution.xlsx",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Nl2OptError):
    """This export cannot be made (unknown format, no solution, a missing package)."""


@dataclass(frozen=True)
class ExportFile:
    file_name: str
    mime: str
    data: bytes


def export_model(formulation: Formulation, fmt: str) -> ExportFile:
    """The formulation as `fmt` (one of MODEL_FORMATS)."""
    if fmt == "json":
        text = formulation.to_json() + "\n"
    elif fmt in ("lp", "mps"):
        from nl2opt.solvers.export import model_text

        text = model_text(formulation, fmt)
    elif fmt == "latex":
        from nl2opt.formulation.render import render_latex

        text = render_latex(formulation)
    elif fmt == "pyomo":
        from nl2opt.solvers.pyomo_code import emit_pyomo_script

        text = emit_pyomo_script(formulation)
    else:
        raise ExportError(f"unknown model format '{fmt}'; choose one of "
                          f"{', '.join(MODEL_FORMATS)}")
    return _file(fmt, text.encode("utf-8"))


def export_solution(result: SolveResult, fmt: str) -> ExportFile:
    """The solution values as `fmt` (one of SOLUTION_FORMATS)."""
    if not result.has_solution:
        raise ExportError(f"there is no solution to export (the model is "
                          f"{result.termination.value})")
    if fmt == "csv":
        return _file(fmt, solution_csv(result).encode("utf-8"))
    if fmt == "xlsx":
        return _file(fmt, solution_workbook(result))
    raise ExportError(f"unknown solution format '{fmt}'; choose one of "
                      f"{', '.join(SOLUTION_FORMATS)}")


def _file(fmt: str, data: bytes) -> ExportFile:
    name, mime = _FILES[fmt]
    return ExportFile(name, mime, data)


def solution_rows(result: SolveResult) -> list[list]:
    """[variable, element 1, ..., element k, value] rows, padded to the widest index."""
    width = max((len(v.index) for v in result.variables.values()), default=0)
    rows = []
    for variable in result.variables.values():
        for key, value in variable.values:
            rows.append([variable.name, *key, *[""] * (width - len(key)), value])
    return rows


def solution_csv(result: SolveResult) -> str:
    width = max((len(v.index) for v in result.variables.values()), default=0)
    buffer = io.StringIO()
    # Rows end in CRLF (RFC 4180, as Excel writes them), so the writer also quotes a cell
    # holding a carriage return, which would otherwise end the row early.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["variable", *[f"index_{k + 1}" for k in range(width)], "value"])
    writer.writerows([[_text_cell(cell) for cell in row] for row in solution_rows(result)])
    return buffer.getvalue()


def _text_cell(cell):
    """OWASP's rule against CSV injection: text a spreadsheet would run as a formula (it
    starts with = + - @, a tab or a carriage return) gets a leading single quote, so it
    shows as text; numbers, and text that is just a number such as '-5', stay as they are."""
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_STARTS):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell


def excel_available() -> bool:
    return importlib.util.find_spec("openpyxl") is not None


def solution_workbook(result: SolveResult) -> bytes:
    """A summary sheet (status, objective, solver) and one sheet per variable."""
    if not excel_available():
        raise ExportError("Excel export needs the openpyxl package (pip install openpyxl); "
                          "the CSV export has the same values")
    import pandas as pd

    summary = pd.DataFrame({"item": ["status", "objective", "solver", "solve seconds"],
                            "value": [result.termination.value, result.objective,
                                      result.solver, result.solve_seconds]})
    buffer = io.BytesIO()
    taken = {"summary"}
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        summary.to_excel(writer, sheet_name="summary", index=False)
        for name, variable in list(result.variables.items())[:200]:
            columns = [*(variable.index or []), "value"]
            rows = [[*key, value] for key, value in variable.values]
            pd.DataFrame(rows, columns=columns).to_excel(writer, sheet_name=_sheet(name, taken),
                                                         index=False)
        _formulas_as_text(writer.book)
    return buffer.getvalue()


def _formulas_as_text(book) -> None:
    """openpyxl stores a text starting with '=' as a formula, so an element such as
    '=HYPERLINK(...)' would run when the file is opened: keep every such cell text."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


def _sheet(name: str, taken: set[str]) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique ignoring case
    (two long names with the same first 31 characters must not share a sheet)."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in name)[:31] or "_"
    candidate, number = cleaned, 2
    while candidate.lower() in taken:
        suffix = f"~{number}"
        candidate, number = cleaned[:31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.lower())
    return candidate
