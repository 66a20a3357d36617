"""The semantic review, interpretation alternatives and voting by equivalence, through the
real pipeline with a scripted LLM."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.pipeline.run import PipelineOptions, solve_text

BAKERY_TEXT = (EXAMPLES / "bakery.txt").read_text(encoding="utf-8")
OPTIMUM = 7200 / 7
WHOLE_OPTIMUM = 1020.0  # bread 16, cake 12 (checked by hand: 16 + 24 = 40, 80 + 36 = 116)
NO_FINDINGS = {"requirements": [{"requirement": "40 oven hours", "encoded_in": "capacity"}],
               "findings": []}


@pytest.fixture
def good():
    return {"reasoning": "Two products, two resources.",
            "formulation": json.loads((EXAMPLES / "bakery_lp.json").read_text())}


def changed(reply, change):
    reply = copy.deepcopy(reply)
    change(reply["formulation"])
    return reply


def whole_batches(formulation):
    formulation["variables"][0]["type"] = "integer"
    formulation["assumptions"] = ["Batches are whole."]


def run(replies, text=BAKERY_TEXT, **options):
    llm = ScriptedBackend(replies)
    return solve_text(text, llm, PipelineOptions(**options)), llm


def test_a_review_finding_triggers_a_repair_and_the_repaired_model_is_solved(good):
    finding = {"requirements": [], "findings": [{
        "kind": "wrong_domain", "element": "variable 'x'",
        "problem": "the text says batches are baked whole",
        "change": "declare x integer"}]}
    report, llm = run([good, finding, changed(good, whole_batches), NO_FINDINGS])
    assert [r.prompt_id for r in llm.requests] == ["formulate.v3", "review.v1", "repair.v1"]
    review_prompt = llm.requests[1].messages[-1].content
    assert "capacity: sum(use[r, p] * x[p] for p in P) <= available[r]" in review_prompt
    assert "x[bread] = 17.1429" in review_prompt and "objective = 1028.571429" in review_prompt
    assert "Review (wrong domain) of variable 'x'" in llm.requests[2].messages[-1].content
    assert report.ok and report.objective == pytest.approx(WHOLE_OPTIMUM)
    review = report.attempts[0].review
    assert review.verdict.findings[0].kind.value == "wrong_domain"
    assert review.objective == pytest.approx(OPTIMUM)  # the answer before the review
    assert report.attempts[1].review is None  # each sample is reviewed once
    assert all(a.review_enabled for a in report.attempts)


def test_unused_facts_go_back_before_the_llm_review(good):
    forgot_flour = changed(good, lambda f: f["parameters"][2]["values"].update(flour_kg=100))
    report, llm = run([forgot_flour, good, NO_FINDINGS])
    assert [r.prompt_id for r in llm.requests] == ["formulate.v3", "repair.v1", "review.v1"]
    assert "The statement says 'bakery has 40 oven hours and 120 kg of flour' (120)" in \
        llm.requests[1].messages[-1].content
    assert report.attempts[0].review.unused_facts == [
        "'bakery has 40 oven hours and 120 kg of flour' (120)"]
    assert report.attempts[1].review.verdict.findings == []
    assert report.ok and report.objective == pytest.approx(OPTIMUM)


def test_no_review_when_switched_off_or_without_rounds(good):
    for options in ({"review": False}, {"rounds": 0}):
        report, llm = run([good], **options)
        assert len(llm.requests) == 1 and report.reviews == [] and report.ok
        assert not report.attempts[0].review_enabled


def test_a_failing_review_request_leaves_the_answer_standing(good):
    report, llm = run([good])  # the scripted LLM has no reply for the review
    assert report.ok and len(llm.requests) == 2
    assert "the review request failed" in report.reviews[0].error


def test_an_unreadable_verdict_is_recorded_not_repaired(good):
    report, llm = run([good, "looks fine to me"])
    assert report.ok and len(llm.requests) == 2
    assert "not a verdict" in report.reviews[0].error


WHOLE = {"choice": "whole or fractional batches", "primary": "fractional batches",
         "reason": "the text says batches may be fractional",
         "variants": [{"name": "whole batches", "description": "bake whole batches only",
                       "variables": [{"name": "x", "index": ["P"], "type": "integer"}]}]}


def test_alternatives_are_solved_and_reported_side_by_side(good):
    reply = {**good, "alternatives": [WHOLE]}
    report, _ = run([reply, NO_FINDINGS])
    assert report.objective == pytest.approx(OPTIMUM)
    [choice] = report.alternatives
    primary, whole = choice.variants
    assert primary.primary and primary.objective == pytest.approx(OPTIMUM)
    assert whole.name == "whole batches" and whole.objective == pytest.approx(WHOLE_OPTIMUM)
    assert whole.formulation["variables"][0]["type"] == "integer"
    assert choice.summary() == ("with fractional batches: 1028.57 (primary); "
                                "with whole batches: 1020")


def test_a_variant_that_does_not_apply_is_reported_not_fatal(good):
    broken = copy.deepcopy(WHOLE)
    broken["variants"][0]["remove"] = ["no_such_constraint"]
    report, _ = run([{**good, "alternatives": [broken]}, NO_FINDINGS])
    assert report.ok
    assert "removes no_such_constraint" in report.alternatives[0].variants[1].error


def test_unreadable_alternatives_never_block_the_formulation(good):
    report, _ = run([{**good, "alternatives": [{"choice": "x"}]}, NO_FINDINGS])
    assert report.ok and report.alternatives == []
    assert report.attempts[0].alternatives_note.startswith("alternatives ignored")


def test_alternatives_and_review_in_the_cli(good, monkeypatch):
    replies = [{**good, "alternatives": [WHOLE]}, NO_FINDINGS]
    monkeypatch.setattr("nl2opt.llm.spec.make_llm", lambda spec: ScriptedBackend(replies))
    result = CliRunner().invoke(app, ["solve", BAKERY_TEXT])
    assert result.exit_code == 0, result.output
    assert "review of round 0: no findings" in result.output
    assert ("alternatives (whole or fractional batches): with fractional batches: 1028.57 "
            "(primary); with whole batches: 1020") in result.output


def test_no_review_in_the_cli(good, monkeypatch):
    llm = ScriptedBackend([good])
    monkeypatch.setattr("nl2opt.llm.spec.make_llm", lambda spec: llm)
    result = CliRunner().invoke(app, ["solve", BAKERY_TEXT, "--no-review"])
    assert result.exit_code == 0, result.output
    assert len(llm.requests) == 1 and "review of round" not in result.output


def test_api_report_carries_alternatives_and_reviews(good, monkeypatch):
    replies = [{**good, "alternatives": [WHOLE]}, NO_FINDINGS]
    monkeypatch.setattr("nl2opt.llm.spec.make_llm", lambda spec: ScriptedBackend(replies))
    report = nl2opt.solve(BAKERY_TEXT, llm="scripted")
    assert [v.name for v in report.alternatives[0].variants] == ["fractional batches",
                                                                 "whole batches"]
    assert report.reviews[0].verdict is not None
    assert json.loads(report.model_dump_json())["alternatives"][0]["choice"]


def scaled(reply, factor):
    """The same model with profits in other money units: an equivalent formulation whose
    optimal value differs."""
    def change(formulation):
        profit = formulation["parameters"][0]
        profit["values"] = {k: v * factor for k, v in profit["values"].items()}
    return changed(reply, change)


def test_equivalence_voting_keeps_together_what_an_objective_vote_splits(good):
    bigger_oven = changed(good, lambda f: f["parameters"][2]["values"].update(oven_hours=50))
    replies = [bigger_oven, bigger_oven, good, good, scaled(good, 0.001)]
    by_value, _ = run(replies, samples=5, vote="objective", review=False)
    by_model, _ = run(replies, samples=5, review=False)
    assert by_value.objective == pytest.approx(8550 / 7)  # 2 votes each: the earlier wins
    assert by_model.objective == pytest.approx(OPTIMUM)
    assert by_model.vote_method == "equivalence"
    assert sorted(c.size for c in by_model.vote_classes) == [2, 3]
    assert sorted(c.size for c in by_value.vote_classes) == [1, 2, 2]
    assert by_model.agreement == pytest.approx(3 / 5)
