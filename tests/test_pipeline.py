"""The self-correction loop with a scripted LLM: each failure kind is repaired or reported."""

import copy
import json

import pytest

from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.llm.types import LLMResponse
from nl2opt.pipeline.run import PipelineOptions, solve_text

from conftest import EXAMPLES

PROBLEM = "A bakery makes bread and cakes ... maximize profit."
OPTIMUM = 7200 / 7


@pytest.fixture
def good():
    return {"reasoning": "Two products, two resources.",
            "formulation": json.loads((EXAMPLES / "bakery_lp.json").read_text())}


def variant(good, change):
    reply = copy.deepcopy(good)
    change(reply["formulation"])
    return reply


def run(replies, **options):
    llm = ScriptedBackend(replies)
    return solve_text(PROBLEM, llm, PipelineOptions(**options)), llm


def test_first_answer_is_solved_and_explained(good):
    report, llm = run([good])
    assert report.ok and report.objective == pytest.approx(OPTIMUM)
    assert report.rounds_used == 0 and len(report.attempts) == 1
    assert report.attempts[0].prompt_id == "formulate.v3" and report.attempts[0].prompt_hash
    assert "Limits reached" in report.explanation
    request = llm.requests[0]
    assert request.json_schema["properties"]["formulation"]["properties"]["variables"]
    assert PROBLEM in request.messages[-1].content


@pytest.mark.parametrize("bad, expected_feedback", [
    ("Sure! Here is the model: {oops", "no JSON object"),
    (LLMResponse(text='{"reasoning": "x", "formulation": {"variables": [', finish_reason="length"),
     "cut off at the token limit"),
    ({"reasoning": "r", "formulation": {"variables": [{"name": "x", "type": "real"}],
                                        "objective": {"sense": "max", "expression": "x"}}},
     "Schema error at formulation.variables[0].type"),
])
def test_unreadable_replies_are_repaired(good, bad, expected_feedback):
    report, llm = run([bad, good])
    assert report.ok and report.objective == pytest.approx(OPTIMUM)
    assert report.attempts[0].stage == "reply"
    assert any(expected_feedback in p for p in report.attempts[0].problems)
    repair = llm.requests[1]
    assert repair.prompt_id == "repair.v1"
    assert expected_feedback in repair.messages[-1].content


def test_undefined_symbol_goes_back_as_a_located_instruction(good):
    broken = variant(good, lambda f: f["objective"].update(
        expression="sum(proft[p] * x[p] for p in P)"))
    report, llm = run([broken, good])
    assert report.ok
    assert report.attempts[0].stage == "validate"
    assert "did you mean 'profit'" in llm.requests[1].messages[-1].content


def test_infeasible_model_feedback_carries_the_diagnosis(good):
    broken = variant(good, lambda f: f["constraints"].append(
        {"name": "min_cake", "expression": "x['cake'] >= 30"}))
    report, llm = run([broken, good])
    assert report.ok and report.attempts[0].termination == "infeasible"
    feedback = llm.requests[1].messages[-1].content
    assert "infeasible" in feedback and "min_cake" in feedback


def test_an_infeasible_model_kept_unchanged_by_a_repair_is_the_answer(good):
    """The statement itself is impossible: after the LLM returns the same model once, no
    more rounds are spent rewriting it (issue 15)."""
    impossible = variant(good, lambda f: f["constraints"].append(
        {"name": "min_cake", "expression": "x['cake'] >= 30"}))
    report, llm = run([impossible, impossible], rounds=3, review=False)
    assert len(llm.requests) == 2 and report.rounds_used == 1
    assert report.result.termination.value == "infeasible" and report.error == ""
    assert report.attempts[-1].stage == "done"


def test_unbounded_model_feedback(good):
    broken = variant(good, lambda f: f.update(constraints=[]))
    report, llm = run([broken, good])
    assert report.ok and report.attempts[0].termination == "unbounded"
    assert "no bound in the improving direction: x" in llm.requests[1].messages[-1].content


def test_counted_quantities_declared_continuous_are_questioned(good):
    def counted(f):
        f["variables"][0]["description"] = "number of batches (whole units)"
        f["assumptions"] = []
    first = variant(good, counted)
    integer = variant(first, lambda f: f["variables"][0].update(type="integer"))
    report, llm = run([first, integer])
    assert "seems to count whole units" in llm.requests[1].messages[-1].content
    assert report.ok and report.formulation.variables[0].type.value == "integer"
    assert report.objective == pytest.approx(1020)  # bread 16, cake 12 (checked by hand)


def test_rounds_run_out_with_a_clear_error(good):
    report, _ = run(["no json", "still none", "nothing"], rounds=2)
    assert not report.ok and report.formulation is None
    assert "no usable formulation after all rounds" in report.error
    assert len(report.attempts) == 3


def test_samples_vote_by_majority_of_objectives(good):
    cheaper = variant(good, lambda f: f["parameters"][0].update(values={"bread": 1, "cake": 1}))
    report, llm = run([cheaper, good, good], samples=3, vote="objective")
    assert llm.requests[0].n == 3 and llm.requests[0].sampling.temperature > 0
    assert report.objective == pytest.approx(OPTIMUM)
    assert report.agreement == pytest.approx(2 / 3)
    assert sorted(s.votes for s in report.samples) == [1, 2, 2]


class _Insight:
    id, label = "ins-1", "Domain Modeling > Resources"
    condition = "Resources are limited per product type"
    explanation = "Write one capacity row per resource."
    example = ""


def test_repairs_show_the_insights_of_the_first_request(good):
    """A library's insights are shown again in repair rounds (repair.v3), and the repair
    attempt records their ids; without insights the repair prompt stays repair.v1."""
    from nl2opt.pipeline.insights import FixedInsights

    broken = variant(good, lambda f: f["objective"].update(
        expression="sum(proft[p] * x[p] for p in P)"))
    llm = ScriptedBackend([broken, good])
    report = solve_text(PROBLEM, llm, PipelineOptions(review=False),
                        insights=FixedInsights([_Insight()]))
    assert report.ok
    first, repair = llm.requests
    assert (first.prompt_id, repair.prompt_id) == ("formulate.v4", "repair.v3")
    assert _Insight.condition in repair.messages[-1].content
    assert "did you mean 'profit'" in repair.messages[-1].content
    assert [a.insight_ids for a in report.attempts] == [["ins-1"], ["ins-1"]]
    _, plain = run([broken, good], review=False)
    assert plain.requests[1].prompt_id == "repair.v1"
