"""The "Code & export" tab: the Pyomo script, and every export as a download."""

from __future__ import annotations

import streamlit as st

from nl2opt.analysis.exports import ExportFile, excel_available, export_model, export_solution
from nl2opt.app.turns import Answer
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render import md_text
from nl2opt.solvers.result import SolveResult

MODEL_EXPORTS = [("json", "Formulation (JSON)"), ("lp", "LP file"), ("mps", "MPS file"),
                 ("latex", "LaTeX")]
SOLUTION_EXPORTS = [("csv", "Solution (CSV)"), ("xlsx", "Solution (Excel)")]


def export_tab(answer: Answer, formulation: Formulation, result: SolveResult | None,
               key: str) -> None:
    st.caption("LP and MPS files are written from the compiled model, so any solver can "
               "read them; the JSON file re-opens in nl2opt (`nl2opt solve model.json`).")
    files = _exports(formulation, result)
    columns = st.columns(3)
    for number, (label, made) in enumerate(files):
        with columns[number % 3]:
            if isinstance(made, ExportFile):
                st.download_button(label, made.data, file_name=made.file_name, mime=made.mime,
                                   key=f"export_{key}_{number}", icon=":material/download:",
                                   on_click="ignore", width="stretch")
            else:
                st.caption(f"{label}: {md_text(made)}")
    code = answer.code or "# no code was generated\n"
    st.download_button("Pyomo script", code, file_name="model.py", mime="text/x-python",
                       key=f"download_{key}", icon=":material/download:", on_click="ignore")
    with st.expander("The Pyomo script"):
        st.code(code, language="python")


def _exports(formulation: Formulation, result: SolveResult | None
             ) -> list[tuple[str, ExportFile | str]]:
    """(label, file) for each export, or (label, why it is missing)."""
    made: list[tuple[str, ExportFile | str]] = []
    for fmt, label in MODEL_EXPORTS:
        made.append((label, _attempt(lambda fmt=fmt: export_model(formulation, fmt))))
    for fmt, label in SOLUTION_EXPORTS:
        if result is None or not result.has_solution:
            made.append((label, "no solution to export"))
        elif fmt == "xlsx" and not excel_available():
            made.append((label, "needs openpyxl (pip install openpyxl)"))
        else:
            made.append((label, _attempt(lambda fmt=fmt: export_solution(result, fmt))))
    return made


def _attempt(make) -> ExportFile | str:
    try:
        return make()
    except Nl2OptError as error:
        return str(error).split(" (")[0]
