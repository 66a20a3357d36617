"""The one scorer every nl2opt evaluation uses, plus the other papers' conventions.

Canonical rule (see SCORING_RULE, printed verbatim by reports): an answer is
correct when its status matches the label's and, for an optimal label, the
objective is within 1e-4 relative error with an absolute floor of 1e-4:
|pred - label| <= 1e-4 * max(|label|, 1), or, when the label as written (the
item's `answer_raw`) has d = 1 to 3 decimals, within half a unit of its last
decimal: |pred - label| <= 0.5 * 10^-d. A label of 2.42 published for a true
optimum of 2.4184 (an exact cylinder volume) is what the author's rounding
gives, so the answer 2.4184 is correct. The `strict_1e-4` column keeps the
first test alone.

Why this tolerance: benchmark labels are printed values (often rounded to 2
decimals or to integers by their authors) while solvers stop at ~1e-6..1e-9
feasibility/optimality gaps, so 1e-6 (SIRL/OptMATH) rejects solver noise on
large objectives, and 2-decimal rounding (LLMOPT) is absolute and so both too
strict for values in the millions and too loose near zero. 1e-4 relative
accepts solver noise and rejects a genuinely different model. The secondary
conventions are reported as extra columns so numbers stay comparable with
published tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CANONICAL_TOLERANCE = 1e-4

CONVENTIONS = ("strict_1e-4", "rel_1e-6", "rel_5pct", "abs_0.1", "round2")

SCORING_RULE = (
    "Correct iff the predicted status matches the label: "
    "label optimal -> predicted status optimal and "
    "|pred - label| <= 1e-4 * max(|label|, 1) (relative 1e-4, absolute 1e-4 near zero), "
    "or, when the label as written in the dataset (answer_raw) has d = 1 to 3 decimals, "
    "|pred - label| <= 0.5 * 10^-d (half a unit of the label's last decimal: labels are "
    "often published rounded; a zero fraction such as 6.0 counts as no decimals); "
    "label infeasible -> predicted infeasible or infeasible_or_unbounded; "
    "label unbounded -> predicted unbounded or infeasible_or_unbounded; "
    "label infeasible_or_unbounded -> predicted infeasible, unbounded or "
    "infeasible_or_unbounded; unlabeled items are not scored. "
    "Any other predicted status (error, time_limit, unknown, none) is wrong. "
    "Extra columns apply the same status rule with other objective tests, "
    "e = |pred - label| / max(|label|, 1): strict_1e-4 e <= 1e-4 (the canonical rule "
    "without the label-decimals allowance); rel_1e-6 (SIRL/OptMATH) e < 1e-6; "
    "rel_5pct e <= 0.05; abs_0.1 |pred - label| <= 0.1; "
    "round2 (LLMOPT) round(pred, 2) == round(label, 2)."
)

# Which predicted statuses satisfy a label that is not an optimal value.
_ACCEPTED_STATUSES = {
    "infeasible": frozenset({"infeasible", "infeasible_or_unbounded"}),
    "unbounded": frozenset({"unbounded", "infeasible_or_unbounded"}),
    "infeasible_or_unbounded": frozenset({"infeasible", "unbounded",
                                          "infeasible_or_unbounded"}),
}


@dataclass(frozen=True)
class Score:
    """How one prediction compares with one label.

    `scored` is False for unlabeled items (they count in no accuracy).
    `relative_error` is |pred - label| / max(|label|, 1), set whenever the label
    is optimal and the prediction carries a finite objective (whatever its status).
    `conventions` maps each name in CONVENTIONS to its verdict.
    """

    correct: bool
    scored: bool
    conventions: dict[str, bool] = field(default_factory=dict)
    relative_error: float | None = None
    label_status: str = "unlabeled"
    predicted_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for run records)."""
        return {"correct": self.correct, "scored": self.scored,
                "conventions": dict(self.conventions), "relative_error": self.relative_error,
                "label_status": self.label_status, "predicted_status": self.predicted_status}


def normalize_status(status: Any) -> str | None:
    """Lower-case status name with '_' separators; accepts Termination enums and strings."""
    if status is None:
        return None
    text = str(getattr(status, "value", status)).strip().lower()
    return "_".join(text.replace("-", " ").split()) or None


def scaled_error(predicted: float, label: float) -> float:
    """|predicted - label| / max(|label|, 1): relative error with an absolute floor."""
    return abs(predicted - label) / max(abs(label), 1.0)


def objectives_match(predicted: float | None, label: float | None,
                     tolerance: float = CANONICAL_TOLERANCE) -> bool:
    """True when both are finite and |predicted - label| <= tolerance * max(|label|, 1)."""
    if predicted is None or label is None:
        return False
    if not (math.isfinite(predicted) and math.isfinite(label)):
        return False
    return scaled_error(predicted, label) <= tolerance


def _objective_conventions(predicted: float, label: float) -> dict[str, bool]:
    error = scaled_error(predicted, label)
    return {
        "strict_1e-4": error <= CANONICAL_TOLERANCE,
        "rel_1e-6": error < 1e-6,
        "rel_5pct": error <= 0.05,
        "abs_0.1": abs(predicted - label) <= 0.1,
        "round2": round(predicted, 2) == round(label, 2),
    }


# A label as a plain decimal number: optional sign, digits, optional fraction.
_PLAIN_DECIMAL = re.compile(r"[+-]?(\d*)(?:\.(\d*))?")
MAX_LABEL_DECIMALS = 3


def _written_label(raw: Any) -> str | None:
    """The label's number as the dataset wrote it (the loader's reading of answer_raw)."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):  # JSON numbers: the shortest form that reads back the same
        return repr(raw) if math.isfinite(raw) else None
    if isinstance(raw, list):
        return _written_label(raw[0]) if len(raw) == 1 else None
    if isinstance(raw, dict):
        return _written_label(next((raw[k] for k in ("obj", "objective", "value")
                                    if k in raw), None))
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        parts = [part for part in text[1:-1].split(",") if part.strip()]
        return _written_label(parts[0]) if len(parts) == 1 else None
    return text.replace(",", "")


def label_decimals(raw: Any) -> int | None:
    """How many decimals a label was written with ("2.42" -> 2); None if not a plain number.

    A fraction of zeros counts as none: "6.0" is how CSV exports write the integer 6.
    """
    text = _written_label(raw)
    match = _PLAIN_DECIMAL.fullmatch(text) if text is not None else None
    if match is None or not (match.group(1) or match.group(2)):
        return None
    fraction = match.group(2) or ""
    return len(fraction) if fraction.strip("0") else 0


def decimals_allowance(raw: Any, label: float) -> float | None:
    """0.5 * 10^-d when the label was written with d = 1..3 decimals and reads as `label`."""
    decimals = label_decimals(raw)
    if decimals is None or not 1 <= decimals <= MAX_LABEL_DECIMALS:
        return None
    if not math.isclose(float(_written_label(raw) or "nan"), label, rel_tol=1e-12):
        return None  # the written number is not this label (a corrected label, say)
    # The slack absorbs binary rounding (2.45 - 2.4 is 0.05000000000000027).
    return 0.5 * 10.0 ** -decimals * (1 + 1e-9)


def _all(verdict: bool) -> dict[str, bool]:
    return {name: verdict for name in CONVENTIONS}


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def score(predicted_status: Any, predicted_objective: float | None, item: Any) -> Score:
    """Score one prediction against an item's label (see SCORING_RULE).

    `item` is a DatasetItem or anything with `answer_status` and `answer`
    attributes (or such dict keys). `predicted_status` may be a Termination,
    a string, or None (no result). Never raises on odd predictions: a missing
    or non-finite objective is simply not correct.
    """
    label_status = normalize_status(_field(item, "answer_status")) or "unlabeled"
    label = _as_float(_field(item, "answer"))
    status = normalize_status(predicted_status)
    if label_status == "optimal" and label is None:
        label_status = "unlabeled"  # an "optimal" label without a value cannot be scored
    if label_status == "unlabeled":
        return Score(False, False, _all(False), None, label_status, status)
    if label_status != "optimal":
        verdict = status in _ACCEPTED_STATUSES.get(label_status, frozenset())
        return Score(verdict, True, _all(verdict), None, label_status, status)
    objective = _as_float(predicted_objective)
    error = scaled_error(objective, label) if objective is not None else None
    if status != "optimal" or objective is None:
        return Score(False, True, _all(False), error, label_status, status)
    allowance = decimals_allowance(_field(item, "answer_raw"), label)
    correct = error <= CANONICAL_TOLERANCE or (allowance is not None
                                               and abs(objective - label) <= allowance)
    return Score(correct, True, _objective_conventions(objective, label), error,
                 label_status, status)


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)


# ---------------------------------------------------------------- aggregation

@dataclass(frozen=True)
class AccuracySummary:
    """Counts and accuracies over a group of scores (unscored items excluded)."""

    total: int
    scored: int
    correct: int
    accuracy: float | None
    conventions: dict[str, float | None]


def _verdict(s: Score, convention: str | None) -> bool:
    return s.correct if convention in (None, "canonical") else s.conventions.get(convention,
                                                                                 False)


def accuracy(scores: Iterable[Score], convention: str | None = None) -> float | None:
    """Fraction of scored items that are correct (None when nothing is scored).

    `convention` None or "canonical" uses the canonical rule; a name from
    CONVENTIONS uses that column instead.
    """
    scored = [s for s in scores if s.scored]
    if not scored:
        return None
    return sum(_verdict(s, convention) for s in scored) / len(scored)


def summarize(scores: Iterable[Score]) -> AccuracySummary:
    """Total, scored and correct counts with canonical and per-convention accuracy."""
    scores = list(scores)
    scored = [s for s in scores if s.scored]
    return AccuracySummary(
        total=len(scores), scored=len(scored), correct=sum(s.correct for s in scored),
        accuracy=accuracy(scored),
        conventions={name: accuracy(scored, name) for name in CONVENTIONS})


def _groups(scores: Sequence[Score], keys: Sequence[Hashable]) -> dict[Hashable, list[Score]]:
    if len(scores) != len(keys):
        raise ValueError(f"accuracy_by needs one key per score: {len(scores)} scores, "
                         f"{len(keys)} keys.")
    groups: dict[Hashable, list[Score]] = {}
    for s, key in zip(scores, keys):
        groups.setdefault(key, []).append(s)
    return groups


def accuracy_by(scores: Sequence[Score], keys: Sequence[Hashable],
                convention: str | None = None) -> dict[Hashable, float | None]:
    """Accuracy per group; `keys[i]` is the group (subset, problem class, ...) of `scores[i]`.

    Groups appear in first-seen order.
    """
    return {key: accuracy(group, convention) for key, group in _groups(scores, keys).items()}


def summarize_by(scores: Sequence[Score],
                 keys: Sequence[Hashable]) -> dict[Hashable, AccuracySummary]:
    """summarize() per group, keyed as in accuracy_by."""
    return {key: summarize(group) for key, group in _groups(scores, keys).items()}
