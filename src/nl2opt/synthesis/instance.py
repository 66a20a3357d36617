"""Generate, solve, label and score one instance: a pure function of picklable data.

`make_instance(spec)` is what a worker process (or a Ray task) runs: it builds
the family's formulation for the given sizes and seed, makes the requested
infeasible/unbounded variant, classifies, solves, scores S(PD), moves large
tables to CSV text and renders the LaTeX statement. Nothing is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render import render_latex
from nl2opt.solvers.result import SolveResult, Termination
from nl2opt.solvers.solve import problem_class_of, solve
from nl2opt.synthesis.complexity import complexity
from nl2opt.synthesis.families import get_family
from nl2opt.synthesis.records import GeneratorSettings, InstanceRecord, Variant
from nl2opt.synthesis.tables import DEFAULT_THRESHOLD, DataTable, externalize
from nl2opt.synthesis.variants import infeasible_variant, unbounded_variant

STATUS = {Termination.optimal: "optimal", Termination.infeasible: "infeasible",
          Termination.unbounded: "unbounded",
          Termination.infeasible_or_unbounded: "infeasible_or_unbounded"}
Tables = Literal["auto", "inline", "files"]


@dataclass(frozen=True)
class InstanceSpec:
    """What to generate: picklable, so it can be sent to a worker."""

    uid: str
    family: str
    sizes: dict[str, int]
    seed: int
    variant: Variant = "feasible"
    tables: Tables = "auto"
    table_threshold: int = DEFAULT_THRESHOLD
    time_limit: float | None = 30.0
    origin: str = "given"


@dataclass(frozen=True)
class GeneratedInstance:
    """The record to store, the CSV files to write next to it, and the model with its
    data inline (handy for checking a recovered formulation without reading files)."""

    record: InstanceRecord
    tables: tuple[DataTable, ...] = field(default=())
    inline: dict = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return self.record.answer_status != "unlabeled"


def make_instance(spec: InstanceSpec) -> GeneratedInstance:
    family = get_family(spec.family)
    builder = family.builder(spec.sizes, spec.seed)
    formulation = builder.formulation()
    problem_class = problem_class_of(formulation)
    result = _solve(formulation, problem_class, spec.time_limit)
    formulation, result, variant, note = _variant(formulation, result, spec)
    problem_class = problem_class_of(formulation) if variant != "feasible" else problem_class
    files = spec.tables == "files"
    threshold = 1 if files else spec.table_threshold
    stored, tables = (formulation, []) if spec.tables == "inline" else externalize(
        formulation, f"data/{spec.uid}", builder.labels, threshold)
    settings = GeneratorSettings(family=family.name, sizes=family.check_sizes(spec.sizes),
                                 seed=spec.seed, variant=variant, variant_note=note,
                                 tables="files" if tables else "inline", origin=spec.origin)
    record = InstanceRecord(
        uid=spec.uid, family=family.name, domain=family.domain,
        problem_class=problem_class.value, formulation=stored.to_dict(),
        data_files=[t.path for t in tables],
        answer=result.objective if result.termination is Termination.optimal else None,
        answer_status=STATUS.get(result.termination, "unlabeled"),
        complexity=complexity(formulation).summary(), generator=settings,
        solver=result.solver, solve_seconds=round(result.solve_seconds, 4),
        statement=render_latex(formulation))
    return GeneratedInstance(record, tuple(tables), formulation.to_dict())


def _solve(formulation: Formulation, problem_class: ProblemClass,
           time_limit: float | None) -> SolveResult:
    try:
        return solve(formulation, time_limit=time_limit, check=False,
                     problem_class=problem_class)
    except Exception as error:  # noqa: BLE001 - a solver crash leaves this instance unlabeled
        return SolveResult(termination=Termination.error,
                           message=f"{type(error).__name__}: {error}")


def _variant(formulation: Formulation, result: SolveResult, spec: InstanceSpec):
    """(formulation, result, variant, note): the requested variant when it can be made."""
    if spec.variant == "feasible" or result.termination is not Termination.optimal:
        return formulation, result, "feasible", ""
    family = get_family(spec.family)
    made = None
    if spec.variant == "infeasible" and family.linear_objective:
        made = infeasible_variant(formulation, float(result.objective), spec.time_limit)
    elif spec.variant == "unbounded":
        made = unbounded_variant(formulation, spec.seed, spec.time_limit)
    if made is None:
        return formulation, result, "feasible", f"no {spec.variant} variant for this family"
    variant, note = made
    problem_class = problem_class_of(variant)
    return variant, _solve(variant, problem_class, spec.time_limit), spec.variant, note
