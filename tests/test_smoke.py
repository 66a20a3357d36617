import pytest

import nl2opt
from nl2opt.errors import FormulationError
from nl2opt.solvers.result import Termination


def test_bakery_solves_to_known_optimum(bakery):
    result = nl2opt.solve_formulation(bakery)
    assert result.termination is Termination.optimal
    # Both resources bind: x + 2y = 40, 5x + 3y = 120 -> x = 120/7, y = 80/7.
    assert result.objective == pytest.approx(30 * 120 / 7 + 45 * 80 / 7, rel=1e-9)
    assert result.value("x", "bread") == pytest.approx(120 / 7)
    assert result.constraints["capacity"].rows[0]["index"] == ["oven_hours"]


def test_invalid_formulation_is_rejected_with_issues(bakery_dict):
    bakery_dict["constraints"][0]["expression"] = "sum(x[p] for p in P) <= capacity"
    with pytest.raises(FormulationError) as caught:
        nl2opt.solve_formulation(bakery_dict)
    assert any(issue.code == "undefined-name" for issue in caught.value.issues)
