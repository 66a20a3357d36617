"""Baselines the mapping method is measured against, in the same harness.

* optimal value: equivalent when both models reach the same optimal value (or are
  both infeasible). Fooled by any objective scaling or shift, and by unrelated
  models that happen to share the value.
* WL graph test: equivalent when 1-WL colour refinement of the bipartite
  variable-constraint graphs (coefficients, bounds, objective as labels) gives the
  same colour histogram. Exact under renaming and permutation, broken by any
  slack, scaling or substitution.
"""

from __future__ import annotations

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.matching import wl_histograms_equal
from nl2opt.equivalence.solving import Solution
from nl2opt.equivalence.verify import objective_matches


def optimal_value_baseline(sa: Solution, sb: Solution) -> bool | None:
    """True/False, or None when a solve failed (no answer)."""
    if sa.status in ("error", "unsupported") or sb.status in ("error", "unsupported"):
        return None
    if sa.ok and sb.ok:
        return objective_matches(sb.objective, sa.objective)
    return sa.status == sb.status


def wl_baseline(a: InstanceModel, b: InstanceModel) -> bool:
    return wl_histograms_equal(a, b, canonical=False)
