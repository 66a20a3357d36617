"""Every synthesis family, at several seeds: it compiles, classifies as declared and
solves to optimality; on small sizes its optimum equals an independent computation
(synth_checks*.py: brute force, textbook algorithms, separately written models)."""

from __future__ import annotations

import pytest
import synth_checks as a
import synth_checks_more as b

import nl2opt
from nl2opt.formulation.arrays import compile_arrays
from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.validate import errors_only, validate
from nl2opt.synthesis.families import FAMILIES, family_names, get_family

SEEDS = (0, 1, 2)
# Small sizes per family for the independent check; brute force stays within ~1000 cases.
CHECKS = {
    "knapsack": ({"items": 8}, a.knapsack),
    "multi_knapsack": ({"items": 5, "knapsacks": 2}, a.multi_knapsack),
    "bin_packing": ({"items": 5}, a.bin_packing),
    "set_cover": ({"elements": 6, "subsets": 7}, a.set_cover),
    "set_packing": ({"resources": 6, "bids": 7}, a.set_packing),
    "cutting_stock": ({"widths": 3, "demand_scale": 2}, a.cutting_stock),
    "assignment": ({"workers": 5}, a.assignment),
    "generalized_assignment": ({"machines": 2, "jobs": 6}, a.generalized_assignment),
    "capital_budgeting": ({"projects": 7, "years": 3}, a.capital_budgeting),
    "transportation": ({"sources": 3, "customers": 4}, a.transportation),
    "min_cost_flow": ({"nodes": 7, "density_pct": 30}, a.min_cost_flow),
    "max_flow": ({"nodes": 8, "density_pct": 30}, a.max_flow),
    "shortest_path": ({"nodes": 8, "density_pct": 30}, a.shortest_path),
    "multicommodity_flow": ({"nodes": 5, "density_pct": 30, "commodities": 2},
                            a.multicommodity_flow),
    "network_design": ({"nodes": 5, "density_pct": 20}, a.network_design),
    "uncapacitated_facility_location": ({"sites": 4, "customers": 5},
                                        a.uncapacitated_facility_location),
    "capacitated_facility_location": ({"sites": 3, "customers": 4},
                                      a.capacitated_facility_location),
    "p_median": ({"towns": 6, "clinics": 2}, a.p_median),
    "tsp": ({"cities": 6}, b.tsp),
    "vrp": ({"customers": 4}, b.vrp),
    "job_shop": ({"jobs": 3, "machines": 2}, b.job_shop),
    "flow_shop": ({"jobs": 4, "machines": 3}, b.flow_shop),
    "parallel_machines": ({"jobs": 6, "machines": 2}, b.parallel_machines),
    "shift_scheduling": ({"periods": 8, "shifts": 4, "shift_length": 3}, b.shift_scheduling),
    "workforce": ({"employees": 4, "shifts": 3}, b.workforce),
    "unit_commitment": ({"generators": 2, "hours": 3}, b.unit_commitment),
    "production_mix": ({"products": 4, "resources": 3}, b.production_mix),
    "production_planning": ({"products": 2, "periods": 4}, b.production_planning),
    "lot_sizing": ({"periods": 6}, b.lot_sizing),
    "multi_item_lot_sizing": ({"items": 2, "periods": 3}, b.multi_item_lot_sizing),
    "inventory_backlog": ({"periods": 5}, b.inventory_backlog),
    "diet": ({"foods": 4, "nutrients": 3}, b.diet),
    "blending": ({"ingredients": 4, "qualities": 2}, b.blending),
    "portfolio": ({"assets": 4}, b.portfolio),
    "pricing": ({"products": 3}, b.pricing),
    "pooling": ({"pool_inputs": 2, "direct_inputs": 1, "products": 2}, b.pooling),
}
TOLERANCE = {"portfolio": 1e-5, "pricing": 1e-5, "pooling": 1e-4}


def test_at_least_thirty_families_each_with_a_check():
    assert len(FAMILIES) >= 30
    assert len(set(family_names())) == len(FAMILIES)
    assert sorted(CHECKS) == sorted(family_names())


@pytest.mark.parametrize("name", family_names())
def test_family_compiles_classifies_and_solves(name):
    family = get_family(name)
    for seed in SEEDS:
        formulation = family.generate(family.smallest(), seed)
        assert errors_only(validate(formulation)) == []
        assert nl2opt.classify_formulation(formulation) is family.problem_class
        if family.problem_class in (ProblemClass.LP, ProblemClass.MILP, ProblemClass.QP):
            assert compile_arrays(formulation).num_cols > 0
        result = nl2opt.solve_formulation(formulation, time_limit=20)
        assert result.termination.value == "optimal", (seed, result.message)


@pytest.mark.parametrize("name", family_names())
def test_small_optimum_matches_an_independent_computation(name):
    sizes, check = CHECKS[name]
    family = get_family(name)
    for seed in SEEDS[:2]:
        formulation = family.generate(sizes, seed)
        result = nl2opt.solve_formulation(formulation, time_limit=20)
        assert result.termination.value == "optimal"
        expected = check(a.Data(formulation))
        assert result.objective == pytest.approx(expected, rel=TOLERANCE.get(name, 1e-7),
                                                 abs=1e-6), (seed, sizes)
