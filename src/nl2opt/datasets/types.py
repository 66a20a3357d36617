"""Benchmark items and datasets: the data model every loader returns.

The field names follow the staged `canonical.jsonl` files (one normalised
schema for every benchmark), so a row loads as a `DatasetItem` directly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AnswerStatus = Literal["optimal", "infeasible", "infeasible_or_unbounded", "unbounded",
                       "unlabeled"]


class DatasetItem(BaseModel):
    """One benchmark problem with its label (never shown to the LLM loop)."""

    model_config = ConfigDict(extra="ignore")

    uid: str
    dataset: str
    subset: str | None = None
    question: str
    answer: float | None = None
    answer_raw: Any = None
    answer_status: AnswerStatus = "unlabeled"
    other_versions: list[dict[str, Any]] = Field(default_factory=list)


class Dataset(BaseModel):
    """A loaded benchmark: its items plus what identifies the exact data used."""

    name: str
    path: str
    version: str = Field(description="where the data came from, e.g. source repo@commit")
    file_hash: str = Field(description="sha256 of the file the items were read from")
    items: list[DatasetItem]

    def __len__(self) -> int:
        return len(self.items)
