"""Interpretation alternatives: where the text leaves a modelling choice open.

Whole or fractional servings, "at most" of which total, a missing initial
state: a formulation reply may declare such a choice. The reply's main
formulation is the *primary* interpretation (the one the text supports best,
with the LLM's reason); each other interpretation is a *variant*, written as a
patch of the main formulation: elements that replace same-named ones or are
added, and names of elements to remove. nl2opt solves every variant and
reports the answers side by side; the primary answer is the one scored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Constraint, Formulation, Objective, Parameter, SetDef, Variable
from nl2opt.pipeline.stages import check_and_solve

_KINDS = ("sets", "parameters", "variables", "constraints")


class Variant(BaseModel):
    """Another interpretation, as a patch of the main formulation."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="e.g. 'whole servings'")
    description: str = ""
    sets: list[SetDef] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    variables: list[Variable] = Field(
        default_factory=list, description="replace same-named variables, e.g. a new type")
    constraints: list[Constraint] = Field(default_factory=list)
    objective: Objective | None = None
    remove: list[str] = Field(default_factory=list, description="names of elements to drop")


class Alternative(BaseModel):
    """A modelling choice the text leaves open, and its interpretations."""

    model_config = ConfigDict(extra="forbid")

    choice: str = Field(description="e.g. 'whole or fractional servings'")
    primary: str = Field(description="the interpretation the main formulation uses")
    reason: str = Field(description="why the text supports the primary one best")
    variants: list[Variant] = Field(min_length=1)


class VariantOutcome(BaseModel):
    """The answer under one interpretation."""

    name: str
    description: str = ""
    primary: bool = False
    termination: str | None = None
    objective: float | None = None
    error: str = ""
    formulation: dict | None = None  # the patched model (None for the primary)


class AlternativeOutcome(BaseModel):
    """A choice with every interpretation's answer, the primary first."""

    choice: str
    reason: str = ""
    variants: list[VariantOutcome] = Field(default_factory=list)

    def summary(self) -> str:
        """'with fractional servings: 2.5 (primary); with whole servings: 3.0'."""
        return "; ".join(f"with {v.name}: {answer_text(v)}" + (" (primary)" if v.primary
                                                                else "")
                         for v in self.variants)


class VariantError(Nl2OptError):
    """A variant does not apply to the formulation (e.g. it removes an unknown name)."""


def answer_text(outcome: VariantOutcome) -> str:
    if outcome.error:
        return f"not solved ({outcome.error[:120]})"
    if outcome.termination == "optimal" and outcome.objective is not None:
        return f"{outcome.objective:.6g}"
    return outcome.termination or "no answer"


def read_alternatives(payload) -> tuple[list[Alternative], str]:
    """The alternatives of a reply payload, and an error note if they were unreadable
    (unreadable alternatives never block the main formulation)."""
    raw = payload.get("alternatives") if isinstance(payload, dict) else None
    if not raw:
        return [], ""
    try:
        return [Alternative.model_validate(item) for item in raw], ""
    except (ValidationError, TypeError) as error:
        return [], f"alternatives ignored: {str(error).splitlines()[0]}"


def apply_variant(formulation: Formulation, variant: Variant) -> Formulation:
    """The formulation with the variant's elements swapped in and its removals made."""
    document = formulation.to_dict()
    names = {e["name"] for kind in _KINDS for e in document.get(kind, [])}
    unknown = [name for name in variant.remove if name not in names]
    if unknown:
        raise VariantError(f"variant '{variant.name}' removes {', '.join(unknown)}, which the "
                           "formulation does not have")
    for kind in _KINDS:
        kept = [e for e in document.get(kind, []) if e["name"] not in variant.remove]
        for element in getattr(variant, kind):
            new = element.model_dump(by_alias=True, exclude_none=True)
            kept = [new if e["name"] == new["name"] else e for e in kept] \
                if any(e["name"] == new["name"] for e in kept) else [*kept, new]
        document[kind] = kept
    if variant.objective is not None:
        document["objective"] = variant.objective.model_dump(exclude_none=True)
    document["assumptions"] = [*document.get("assumptions", []),
                               f"Interpretation: {variant.name}."]
    try:
        patched = Formulation.model_validate(document)
    except ValidationError as error:
        raise VariantError(f"variant '{variant.name}' gives an invalid formulation: "
                           f"{str(error).splitlines()[0]}") from None
    return patched.with_data_dir(formulation.data_dir)


def primary_outcome(alternative: Alternative, termination: str | None,
                    objective: float | None) -> VariantOutcome:
    return VariantOutcome(name=alternative.primary, description=alternative.reason,
                          primary=True, termination=termination, objective=objective)


def patched_variants(formulation: Formulation, alternative: Alternative
                     ) -> list[tuple[Variant, Formulation | None, str]]:
    """(variant, patched formulation or None, error) for each variant of a choice."""
    patched = []
    for variant in alternative.variants:
        try:
            patched.append((variant, apply_variant(formulation, variant), ""))
        except VariantError as error:
            patched.append((variant, None, str(error)))
    return patched


def variant_outcome(variant: Variant, formulation: Formulation | None, error: str,
                    termination: str | None = None, objective: float | None = None,
                    problems: list[str] | None = None) -> VariantOutcome:
    if formulation is not None and termination is None and problems:
        error = problems[0]
    return VariantOutcome(name=variant.name, description=variant.description,
                          termination=termination, objective=objective, error=error,
                          formulation=formulation.to_dict() if formulation else None)


def solve_alternatives(formulation: Formulation, alternatives: list[Alternative],
                       termination: str | None, objective: float | None,
                       solver: str | None = None, time_limit: float | None = None
                       ) -> list[AlternativeOutcome]:
    """Solve every variant of every choice (in this process); the primary answer is given."""
    outcomes = []
    for alternative in alternatives:
        results = [primary_outcome(alternative, termination, objective)]
        for variant, patched, error in patched_variants(formulation, alternative):
            if patched is None:
                results.append(variant_outcome(variant, None, error))
                continue
            solved = check_and_solve(patched, solver, time_limit)
            result = solved.result
            results.append(variant_outcome(
                variant, patched, "", result.termination.value if result else None,
                result.objective if result else None, solved.problems))
        outcomes.append(AlternativeOutcome(choice=alternative.choice,
                                           reason=alternative.reason, variants=results))
    return outcomes
