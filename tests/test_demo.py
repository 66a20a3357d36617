"""The no-GPU demo runs the real pipeline on a recorded answer that still matches the
current prompts (if this fails after a prompt change: python -m nl2opt.demo.rebuild)."""

import pytest
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app
from nl2opt.formulation.render_text import render_text
from nl2opt.llm.demo import demo_problem


def test_demo_recording_matches_the_current_prompts():
    report = nl2opt.solve(demo_problem(), llm="demo")
    assert report.ok and report.objective == pytest.approx(7200 / 7)


def test_demo_command_says_what_it_does_and_answers():
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "hand-written answer" in result.output
    assert "bread = 17.14" in result.output
    assert "oven hours at 40" in result.output


def test_plain_text_rendering(bakery):
    text = render_text(bakery)
    assert "x[P]: continuous >= 0" in text
    assert "Objective: maximize sum(profit[p] * x[p] for p in P)" in text
    assert "capacity: sum(use[r, p] * x[p] for p in P) <= available[r]   (for r in R)" in text
