"""The canonical scorer and the secondary conventions, case by case."""

import math

import pytest

from nl2opt.datasets.types import DatasetItem
from nl2opt.evaluation.scoring import (
    CONVENTIONS,
    SCORING_RULE,
    Score,
    accuracy,
    accuracy_by,
    label_decimals,
    normalize_status,
    objectives_match,
    score,
    summarize,
    summarize_by,
)
from nl2opt.solvers.result import Termination


def item(status="optimal", answer=None, raw=None):
    return DatasetItem(uid="t/1", dataset="t", question="q", answer=answer,
                       answer_raw=raw, answer_status=status)


# (label, predicted objective, canonical, rel_1e-6, rel_5pct, abs_0.1, round2)
OBJECTIVE_CASES = [
    (100.0, 100.0, True, True, True, True, True),
    (100.0, 100.0 + 5e-5, True, True, True, True, True),      # 5e-7 relative
    (100.0, 100.009, True, False, True, True, False),         # 9e-5 relative
    (100.0, 100.011, False, False, True, True, False),        # 1.1e-4 relative
    (100.0, 104.0, False, False, True, False, False),
    (100.0, 106.0, False, False, False, False, False),
    (1e6, 1e6 + 99.0, True, False, True, False, False),       # relative, not absolute
    (1e6, 1e6 + 101.0, False, False, True, False, False),
    (-250.0, -250.02, True, False, True, True, False),        # negative labels
    (-250.0, 250.0, False, False, False, False, False),       # sign error
    (0.0, 0.0, True, True, True, True, True),                 # zero label
    (0.0, 5e-5, True, False, True, True, True),               # absolute floor 1e-4
    (0.0, 2e-4, False, False, True, True, True),
    (0.0, -0.06, False, False, False, True, False),
    (0.5, 0.50004, True, False, True, True, True),            # |label| < 1: floor of 1
    (0.5, 0.5002, False, False, True, True, True),
    (2.675, 2.675, True, True, True, True, True),
    (12.34, 12.346, False, False, True, True, False),
    (1.0, 1.004, False, False, True, True, True),             # round2 looser near 1
]


@pytest.mark.parametrize("label,pred,canonical,rel6,rel5,abs01,round2", OBJECTIVE_CASES)
def test_objective_conventions(label, pred, canonical, rel6, rel5, abs01, round2):
    result = score("optimal", pred, item("optimal", label))
    assert result.scored
    assert result.correct is canonical
    assert result.conventions == {"strict_1e-4": canonical, "rel_1e-6": rel6,
                                  "rel_5pct": rel5, "abs_0.1": abs01, "round2": round2}
    assert result.relative_error == pytest.approx(abs(pred - label) / max(abs(label), 1))


# (label status, predicted status, correct)
STATUS_CASES = [
    ("infeasible", "infeasible", True),
    ("infeasible", "infeasible_or_unbounded", True),
    ("infeasible", "unbounded", False),
    ("infeasible", "optimal", False),
    ("infeasible", None, False),
    ("unbounded", "unbounded", True),
    ("unbounded", "infeasible_or_unbounded", True),
    ("unbounded", "infeasible", False),
    ("infeasible_or_unbounded", "infeasible", True),
    ("infeasible_or_unbounded", "unbounded", True),
    ("infeasible_or_unbounded", "infeasible_or_unbounded", True),
    ("infeasible_or_unbounded", "optimal", False),
    ("infeasible_or_unbounded", "error", False),
    ("infeasible_or_unbounded", "time_limit", False),
]


@pytest.mark.parametrize("label_status,predicted,correct", STATUS_CASES)
def test_status_labels(label_status, predicted, correct):
    result = score(predicted, 12.0, item(label_status))
    assert result.scored and result.correct is correct
    assert result.conventions == {name: correct for name in CONVENTIONS}
    assert result.relative_error is None


@pytest.mark.parametrize("predicted,objective", [
    (None, None), ("optimal", None), ("infeasible", None), ("time_limit", 10.0),
    ("error", 10.0), ("unknown", 10.0), ("optimal", math.nan), ("optimal", math.inf),
    ("optimal", "not a number"),
])
def test_optimal_label_rejects_missing_or_wrong_status(predicted, objective):
    result = score(predicted, objective, item("optimal", 10.0))
    assert result.scored and not result.correct
    assert not any(result.conventions.values())


def test_time_limited_incumbent_keeps_its_error_for_reports():
    result = score("time_limit", 10.0, item("optimal", 10.0))
    assert not result.correct and result.relative_error == 0.0


def test_unlabeled_items_are_not_scored():
    for predicted, objective in [("optimal", 5.0), (None, None), ("infeasible", None)]:
        result = score(predicted, objective, item("unlabeled"))
        assert not result.scored and not result.correct
    # "optimal" without a value cannot be scored either
    assert not score("optimal", 5.0, item("optimal", None)).scored


def test_statuses_accept_enums_dicts_and_spelling_variants():
    assert score(Termination.optimal, 3.0, item("optimal", 3.0)).correct
    assert score("Infeasible or Unbounded", None, item("infeasible")).correct
    assert score("INFEASIBLE-OR-UNBOUNDED", None, item("unbounded")).correct
    assert score("optimal", 3.0, {"answer_status": "optimal", "answer": 3.0}).correct
    assert normalize_status(Termination.infeasible_or_unbounded) == "infeasible_or_unbounded"
    assert normalize_status("  ") is None


def test_objectives_match_is_the_canonical_tolerance():
    assert objectives_match(100.0099, 100.0) and not objectives_match(100.0101, 100.0)
    assert objectives_match(-1e-4, 0.0) and not objectives_match(None, 0.0)
    assert not objectives_match(math.nan, math.nan)


def test_scoring_rule_text_states_the_tolerance_and_every_convention():
    assert "1e-4 * max(|label|, 1)" in SCORING_RULE
    for name in CONVENTIONS:
        assert name in SCORING_RULE


def test_aggregation():
    scores = [score("optimal", 1.0, item("optimal", 1.0)),          # right
              score("optimal", 1.03, item("optimal", 1.0)),         # only rel_5pct / abs_0.1
              score("infeasible", None, item("infeasible")),        # right
              score("optimal", 1.0, item("unlabeled")),             # not scored
              score(None, None, item("optimal", 2.0))]              # wrong
    assert accuracy(scores) == pytest.approx(2 / 4)
    assert accuracy(scores, "rel_5pct") == pytest.approx(3 / 4)
    assert accuracy(scores, "canonical") == accuracy(scores)
    assert accuracy([]) is None and accuracy(scores[3:4]) is None
    summary = summarize(scores)
    assert (summary.total, summary.scored, summary.correct) == (5, 4, 2)
    assert summary.conventions["abs_0.1"] == pytest.approx(3 / 4)
    keys = ["lp", "lp", "milp", "milp", "milp"]
    assert accuracy_by(scores, keys) == {"lp": 0.5, "milp": 0.5}
    assert list(accuracy_by(scores, keys)) == ["lp", "milp"]
    by = summarize_by(scores, keys)
    assert by["milp"].total == 3 and by["milp"].scored == 2
    with pytest.raises(ValueError, match="one key per score"):
        accuracy_by(scores, keys[:2])


def test_score_is_frozen_and_serialisable():
    result = score("optimal", 1.0, item("optimal", 1.0))
    assert isinstance(result, Score)
    with pytest.raises(AttributeError):
        result.correct = False  # type: ignore[misc]
    assert result.to_dict()["conventions"]["round2"] is True


# -- the label-decimals rule ---------------------------------------------------------

CYLINDER = 2.4184  # an exact optimum (a cylinder volume), published as 2.42


@pytest.mark.parametrize("raw", [2.42, "2.42", "[2.42]", [2.42], {"obj": 2.42}, " 2.42 "])
def test_a_label_published_with_fewer_decimals_accepts_the_true_optimum(raw):
    result = score("optimal", CYLINDER, item("optimal", 2.42, raw))
    assert result.correct  # |2.4184 - 2.42| = 0.0016 <= 0.5 * 10^-2
    assert result.conventions["strict_1e-4"] is False  # the column without the rule
    assert result.relative_error == pytest.approx(0.0016 / 2.42)


@pytest.mark.parametrize("raw,label,pred,correct", [
    ("2.42", 2.42, 2.4251, False),        # beyond half a unit of the last decimal
    ("2.42", 2.42, 2.4149, False),
    ("2.4", 2.4, 2.449, True),            # 1 decimal: +-0.05
    ("2.4", 2.4, 2.451, False),
    ("2.418", 2.418, 2.4184, True),       # 3 decimals: +-0.0005
    ("2.418", 2.418, 2.4186, False),
    ("2.4184", 2.4184, 2.4180, False),    # 4 decimals: strict rule only
    (2.4184, 2.4184, 2.4180, False),
    ("2", 2.0, 2.4, False),               # no decimals: strict rule only
    (2, 2.0, 2.0001, True),               # (the strict rule itself accepts this)
    ("6.0", 6.0, 6.04, False),            # a zero fraction is how CSVs write integers
    (6.0, 6.0, 6.04, False),
    ("1,234.5", 1234.5, 1234.54, True),   # thousands separators
    ("2.42", 2.42, None, False),
    (None, 2.42, 2.4184, False),          # no label as written: strict rule only
    ("2.5", 2.42, 2.46, False),           # the written label is not the label's value
])
def test_label_decimals_rule_cases(raw, label, pred, correct):
    assert score("optimal", pred, item("optimal", label, raw)).correct is correct


@pytest.mark.parametrize("raw,decimals", [
    ("2.42", 2), (2.42, 2), ("2.420", 3), ("-0.5", 1), ("[3.125]", 3), ({"obj": "7.1"}, 1),
    ("6.0", 0), (6.0, 0), (6, 0), ("1e3", None), (1e-05, None), ("abc", None), (None, None),
    (True, None), ([1.5, 2.5], None), ("2.4184", 4), (26.000000000000007, 15),
])
def test_label_decimals(raw, decimals):
    assert label_decimals(raw) == decimals


def test_the_decimals_rule_is_stated_with_the_strict_column():
    assert "0.5 * 10^-d" in SCORING_RULE and "answer_raw" in SCORING_RULE
    assert "strict_1e-4" in SCORING_RULE and "strict_1e-4" in CONVENTIONS


def test_status_labels_are_untouched_by_the_decimals_rule():
    result = score("infeasible", None, item("infeasible", None, "infeasible"))
    assert result.correct and result.conventions["strict_1e-4"]
