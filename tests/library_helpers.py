"""Builders for experience-library tests: insights and hand-written training problems.

The problems are written for these tests (never benchmark items). Each recurring
mistake has a problem family whose right answer needs one insight.
"""

from __future__ import annotations

from nl2opt.library.model import (
    Insight,
    InsightDraft,
    Provenance,
    Stage,
    Status,
    TaxonomyPath,
)


def draft(condition: str, explanation: str = "Do it right.", example: str = "",
          stage: Stage = Stage.formulation, level1: str = "Constraint Formulation",
          level2: str = "Percentage limits") -> InsightDraft:
    return InsightDraft(taxonomy=TaxonomyPath(stage=stage, level1=level1, level2=level2),
                        condition=condition, explanation=explanation, example=example)


def insight(condition: str, sources: tuple[str, ...] = ("t1",), status: Status = Status.verified,
            **fields) -> Insight:
    made = draft(condition, **fields).to_insight(Provenance(source_tasks=list(sources)), status)
    return made


PERCENT_CONDITION = ("The problem limits one quantity to at most a percentage (such as 40%) "
                     "of a total or of another quantity.")
PERCENT_EXPLANATION = ("Write 'at most p% of the total' as x <= p/100 * total with the "
                       "percentage as a fraction (0.4, not 40) and the direction <=. A common "
                       "mistake is writing >= or using 40 instead of 0.4.")
PERCENT_EXAMPLE = ('Wrong: "expression": "wheat >= 40 * (wheat + corn)"\n'
                   'Correct: "expression": "wheat <= 0.4 * (wheat + corn)"')
