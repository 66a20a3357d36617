"""LLM-written code mode (LLMOPT-style): the LLM writes the Pyomo script.

The script runs only in the OS sandbox (`nl2opt.sandbox`: bubblewrap namespaces and a
seccomp filter): its own directory, CPU, memory and wall-clock limits, no network, no view
of the host's files, a minimal environment. Its answer is
cross-checked against the deterministic model of the same formulation, so a
script that silently models something else is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from nl2opt.formulation.model import Formulation
from nl2opt.llm.types import LLMBackend, LLMRequest, Sampling
from nl2opt.pipeline.prompts import render_prompt
from nl2opt.sandbox import run_sandboxed
from nl2opt.solvers.result import SolveResult, Termination

CODE_PROMPT = "code.v1"
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)


class CodeCheck(BaseModel):
    """The LLM-written script, what it reported, and whether it agrees."""

    code: str = ""
    status: str = ""  # the sandbox status: ok, error, timeout, ...
    reported_status: str | None = None
    reported_objective: float | None = None
    agrees: bool = False
    message: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class CodeLimits:
    timeout: float = 120.0
    cpu_seconds: float = 120
    memory_mb: int = 4096
    # Only for scripts the user wrote and trusts (nl2opt run-code --unsafe-no-isolation).
    unsafe_no_isolation: bool = False


def extract_code(text: str) -> str:
    """The (last complete) fenced Python block, or the whole text when there is none."""
    blocks = _FENCE.findall(text)
    return blocks[-1].strip() + "\n" if blocks else text.strip() + "\n"


def code_request(problem: str, formulation: Formulation, feedback: str = "") -> LLMRequest:
    prompt = render_prompt(CODE_PROMPT, problem=problem.strip(),
                           formulation=formulation.to_json(), feedback=feedback)
    return LLMRequest(messages=prompt.messages, prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.0, max_tokens=4096))


def write_and_check(problem: str, formulation: Formulation, reference: SolveResult,
                    llm: LLMBackend, rounds: int = 1,
                    limits: CodeLimits = CodeLimits()) -> CodeCheck:
    """Ask for a script, run it sandboxed, compare with `reference`; repair up to `rounds`."""
    check, feedback = CodeCheck(), ""
    for attempt in range(rounds + 1):
        response = llm.generate([code_request(problem, formulation, feedback)])[0][0]
        check = run_and_compare(extract_code(response.text), reference, limits)
        check.attempts = attempt + 1
        if check.agrees:
            break
        feedback = check.message
    return check


# Appended to scripts that never call nl2opt_report, e.g. the gurobipy or Pyomo code
# that published fine-tuned OR models write: it finds the last model the script built
# and reports its status and objective. It runs inside the sandbox, like the script.
_EPILOGUE = """

def _nl2opt_collect_answer():
    models = [v for v in list(globals().values())
              if type(v).__name__ in ("Model", "ConcreteModel")]
    if not models:
        return
    model = models[-1]
    if type(model).__module__.startswith("gurobipy"):
        from gurobipy import GRB
        if model.Status == GRB.LOADED:
            model.optimize()
        names = {GRB.OPTIMAL: "optimal", GRB.INFEASIBLE: "infeasible",
                 GRB.INF_OR_UNBD: "infeasible_or_unbounded", GRB.UNBOUNDED: "unbounded"}
        status = names.get(model.Status, "status %d" % model.Status)
        nl2opt_report(status=status,
                      objective=model.ObjVal if model.Status == GRB.OPTIMAL else None)
    elif type(model).__name__ == "ConcreteModel":
        import pyomo.environ as pyo
        objective = next(model.component_data_objects(pyo.Objective, active=True))
        nl2opt_report(status="optimal", objective=float(pyo.value(objective)))


_nl2opt_collect_answer()
"""


def with_answer_collection(code: str) -> str:
    """The script, plus the epilogue above when it does not report by itself."""
    return code if "nl2opt_report" in code else code.rstrip() + "\n" + _EPILOGUE


def run_script(code: str, limits: CodeLimits = CodeLimits()) -> CodeCheck:
    """Run a script in the sandbox and read what it reports (no comparison). Raises
    SandboxUnavailable where no OS sandbox can be built (unless limits allow running
    without one)."""
    outcome = run_sandboxed(with_answer_collection(code), timeout=limits.timeout,
                            cpu_seconds=limits.cpu_seconds, memory_mb=limits.memory_mb,
                            unsafe_no_isolation=limits.unsafe_no_isolation)
    check = CodeCheck(code=code, status=outcome.status)
    if outcome.status != "ok" or outcome.result is None:
        check.message = f"the script did not report a result ({outcome.status}): " \
                        f"{outcome.message}"
        return check
    check.reported_status = str(outcome.result.get("status", ""))
    check.reported_objective = _number(outcome.result.get("objective"))
    check.message = "the script ran and reported a result"
    return check


def run_and_compare(code: str, reference: SolveResult,
                    limits: CodeLimits = CodeLimits()) -> CodeCheck:
    check = run_script(code, limits)
    if check.status == "ok" and check.reported_status is not None:
        check.agrees, check.message = compare(check.reported_status,
                                              check.reported_objective, reference)
    return check


def compare(status: str | None, objective: float | None,
            reference: SolveResult) -> tuple[bool, str]:
    expected = reference.termination
    if expected is Termination.optimal and reference.objective is not None:
        if objective is None:
            return False, f"the script reported status {status!r} and no objective; the " \
                          f"model is optimal with objective {reference.objective:.10g}"
        tolerance = 1e-6 * max(1.0, abs(reference.objective))
        if abs(objective - reference.objective) <= tolerance:
            return True, "the script's objective matches the deterministic model"
        return False, f"the script's objective {objective:.10g} differs from the " \
                      f"formulation's optimum {reference.objective:.10g}; the script " \
                      "models something else"
    agrees = (status or "").lower() == expected.value
    return agrees, f"the script reported {status!r}; the deterministic model is " \
                   f"{expected.value}"


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
