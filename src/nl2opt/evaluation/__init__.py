"""Evaluation: the canonical scorer, aggregation helpers and the label audit.

See docs/evaluation.md for the exact rules.
"""

from nl2opt.evaluation.audit import (
    AuditFinding,
    Consensus,
    RunRecords,
    audit,
    count_by_kind,
    read_run_records,
    sample_consensus,
)
from nl2opt.evaluation.scoring import (
    CANONICAL_TOLERANCE,
    CONVENTIONS,
    SCORING_RULE,
    AccuracySummary,
    Score,
    accuracy,
    accuracy_by,
    label_decimals,
    normalize_status,
    objectives_match,
    scaled_error,
    score,
    summarize,
    summarize_by,
)

__all__ = [
    "CANONICAL_TOLERANCE",
    "CONVENTIONS",
    "SCORING_RULE",
    "AccuracySummary",
    "AuditFinding",
    "Consensus",
    "RunRecords",
    "Score",
    "accuracy",
    "accuracy_by",
    "audit",
    "count_by_kind",
    "label_decimals",
    "normalize_status",
    "objectives_match",
    "read_run_records",
    "sample_consensus",
    "scaled_error",
    "score",
    "summarize",
    "summarize_by",
]
