"""Fact coverage: does the model use every number the problem statement gives?

A deterministic check (no LLM, no solver): `extract_facts` finds the numbers
of a statement with their units and context, `check_coverage` matches them to
the numbers of a formulation, and `coverage_feedback` words what is left over
(unused facts, invented data) as repair instructions. See docs/review.md.
"""

from nl2opt.coverage.check import Coverage, candidates, check_coverage
from nl2opt.coverage.facts import Fact, FactKind, Role, extract_facts
from nl2opt.coverage.feedback import coverage_feedback
from nl2opt.coverage.numbers import ModelNumber, Source, model_numbers

__all__ = ["Coverage", "Fact", "FactKind", "ModelNumber", "Role", "Source", "candidates",
           "check_coverage", "coverage_feedback", "extract_facts", "model_numbers"]
