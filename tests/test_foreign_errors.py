"""Exceptions that are not nl2opt's own (issue 9, item 5): inside the copilot loop they
become repair feedback naming what went wrong, in `eval --workers 0` they fail that item
alone; deep JSON is refused wherever JSON is read; name checks stay linear (item 6)."""

import json

import pytest
from conftest import EXAMPLES

from nl2opt.app.turns import parse_edited
from nl2opt.datasets import load_dataset
from nl2opt.evaluation.records import RunConfig
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.validate import _duplicate_names
from nl2opt.llm.jsontext import MAX_JSON_DEPTH, extract_json
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.llm.types import LLMRequest, LLMResponse, Usage
from nl2opt.pipeline import stages
from nl2opt.pipeline.run import PipelineOptions, solve_text
from nl2opt.pipeline.stages import check_and_solve
from nl2opt.solvers.pyomo_code import emit_pyomo_script


def bakery() -> dict:
    return json.loads((EXAMPLES / "bakery_lp.json").read_text())


@pytest.fixture
def solve_breaks_on_cursed(monkeypatch):
    """`solve` raises OverflowError for formulations named 'cursed' (an unforeseen bug)."""
    real_solve = stages.solve

    def solve(formulation, **options):
        if formulation.name == "cursed":
            raise OverflowError("int too large to convert to float")
        return real_solve(formulation, **options)

    monkeypatch.setattr(stages, "solve", solve)


def test_a_foreign_exception_in_a_stage_becomes_an_outcome(solve_breaks_on_cursed):
    cursed = Formulation.model_validate({**bakery(), "name": "cursed"})
    outcome = check_and_solve(cursed)
    assert (outcome.stage, outcome.failure, outcome.result) == ("solve", "solver_error", None)
    assert outcome.problems[0].startswith(
        "Solving failed with an unexpected OverflowError (int too large to convert to float)")


def test_a_foreign_exception_in_validation_is_named_with_its_stage(monkeypatch):
    def broken(formulation, compile_check=True):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(stages, "validate", broken)
    outcome = check_and_solve(Formulation.model_validate(bakery()))
    assert (outcome.stage, outcome.failure) == ("validate", "invalid_formulation")
    assert "Checking the formulation failed with an unexpected RecursionError" in \
        outcome.problems[0]


def test_memory_error_in_a_stage_says_the_model_is_too_large(monkeypatch):
    def hungry(formulation, **options):
        raise MemoryError

    monkeypatch.setattr(stages, "solve", hungry)
    outcome = check_and_solve(Formulation.model_validate(bakery()))
    assert outcome.failure == "solver_error"
    assert outcome.problems[0].startswith("Solving ran out of memory: the model needs more "
                                          "memory")


def test_the_copilot_loop_sends_it_back_as_repair_feedback(solve_breaks_on_cursed):
    good = {"reasoning": "r", "formulation": bakery()}
    cursed = {"reasoning": "r", "formulation": {**bakery(), "name": "cursed"}}
    llm = ScriptedBackend([cursed, good])
    report = solve_text("A bakery ...", llm, PipelineOptions())
    assert report.ok and report.objective == pytest.approx(7200 / 7)
    assert report.attempts[0].stage == "solve"
    repair = llm.requests[1].messages[-1].content
    assert "unexpected OverflowError (int too large to convert to float)" in repair


class KeywordBackend:
    """Answers 'cursed' questions with the cursed model and the rest with the bakery."""

    name, model = "fake", "fake-model"

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        answers = []
        for request in requests:
            name = "cursed" if "cursed" in request.messages[-1].content else "bakery"
            text = json.dumps({"reasoning": "r", "formulation": {**bakery(), "name": name}})
            answers.append([LLMResponse(text=text, finish_reason="stop", model=self.model,
                                        usage=Usage(prompt_tokens=1, completion_tokens=1))])
        return answers


def test_eval_with_workers_0_fails_the_item_alone(tmp_path, solve_breaks_on_cursed):
    rows = [{"uid": f"toy/{k}", "dataset": "toy", "question": f"A {k} bakery problem.",
             "answer": 7200 / 7, "answer_status": "optimal"} for k in ("plain", "cursed")]
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = RunConfig(dataset="toy", llm="fake", rounds=1, samples=1, time_limit=10.0,
                       workers=0, batch_size=4)
    records = {r.uid: r for r in run_evaluation(load_dataset(path), KeywordBackend(), config,
                                                tmp_path / "run")}
    assert records["toy/plain"].category == "correct"
    assert records["toy/cursed"].category == "solver_error"


# -- deep JSON -------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [70, 900, 5000, 100_000])
def test_deep_json_in_the_app_editor_is_a_message(depth):
    text = ('{"sets": [{"name": "I", "elements": ' + "[" * depth + "]" * depth + '}],'
            '"variables": [{"name": "x"}], "objective": {"sense": "minimize", '
            '"expression": "x"}}')
    formulation, problem = parse_edited(text)
    assert formulation is None and f"more than {MAX_JSON_DEPTH} levels deep" in problem


def test_the_app_editor_accepts_a_byte_order_mark():
    formulation, problem = parse_edited("\ufeff" + json.dumps(bakery()))
    assert formulation is not None and problem == ""


@pytest.mark.parametrize("depth", [70, 900, 5000])
def test_deep_json_in_a_reply_is_no_formulation(depth):
    text = ('{"reasoning": "r", "formulation": {"sets": [{"name": "I", "elements": '
            + "[" * depth + "]" * depth + '}]}}')
    assert extract_json(text) is None
    response = LLMResponse(text=text, parsed=extract_json(text))
    response.model_dump_json()  # a recording of the reply can be written


# -- linear name checks (item 6) ---------------------------------------------------------------
def many_constraints(count: int) -> Formulation:
    return Formulation.model_validate({
        "variables": [{"name": "x"}], "objective": {"sense": "minimize", "expression": "x"},
        "constraints": [{"name": f"c{k % (count - 1)}", "description": f"row {k}",
                         "expression": "x >= 1"} for k in range(count)]})


def test_duplicate_constraint_names_are_found_in_one_pass():
    # 50,000 constraints took about 50 s with a list.count per name; one pass takes ms.
    issues = _duplicate_names(many_constraints(50_000))
    assert [(i.element, i.message) for i in issues] == [
        ("constraint 'c0'", "2 constraints share this name; rename all but one")]


class CountingList(list):
    iterations = 0

    def __iter__(self):
        CountingList.iterations += 1
        return super().__iter__()


def test_code_emission_looks_each_description_up_in_constant_time():
    formulation = Formulation.model_validate({
        "variables": [{"name": "x"}], "objective": {"sense": "minimize", "expression": "x"},
        "constraints": [{"name": f"c{k}", "description": f"row {k}",
                         "expression": f"x >= {k}"} for k in range(300)]})
    formulation.constraints = CountingList(formulation.constraints)
    script = emit_pyomo_script(formulation)
    assert '"""row 299"""' in script
    # A scan of the constraint list per constraint would iterate it about 300 times.
    assert CountingList.iterations < 20
