"""What the pipeline needs from an experience library, without importing one.

An insight provider returns, for a problem statement, the insights worth
showing the LLM; the formulate prompt includes them and every attempt records
their ids. `nl2opt.library` implements it (BM25, taxonomy labels, embeddings,
an LLM applicability check); tests and verification pass fixed lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class PromptInsight(Protocol):
    """The parts of an insight the formulate prompt shows."""

    id: str
    condition: str
    explanation: str
    example: str

    @property
    def label(self) -> str: ...


@runtime_checkable
class InsightProvider(Protocol):
    def retrieve(self, problem: str) -> Sequence[PromptInsight]:
        """The insights that apply to `problem`, most useful first."""


def retrieve_all(provider: InsightProvider, problems: list[str]
                 ) -> list[Sequence[PromptInsight]]:
    """Insights for many problems: one batched call when the provider offers
    `retrieve_many` (so its LLM steps go out as one batch), else one by one."""
    many = getattr(provider, "retrieve_many", None)
    if callable(many):
        return list(many(problems))
    return [provider.retrieve(problem) for problem in problems]


class FixedInsights:
    """A provider that gives the same insights for every problem."""

    def __init__(self, insights: Sequence[PromptInsight]) -> None:
        self.insights = list(insights)

    def retrieve(self, problem: str) -> Sequence[PromptInsight]:
        return list(self.insights)


def insight_ids(insights: Sequence[PromptInsight]) -> str:
    """Ids as request metadata (comma-separated; metadata never changes a request's key)."""
    return ",".join(insight.id for insight in insights)
