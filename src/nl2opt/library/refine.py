"""Refinement (AlphaOPT's library evolution): rewrite conditions, retire what hurts.

For every verified insight with negative or unretrieved tasks, the LLM writes K
candidate conditions (one batched call). Retrieval is replayed on the affected
tasks (positive, negative, unretrieved) with each candidate in place of the
condition: the candidate stage over the library with the candidate substituted,
then the LLM applicability check (one batched call for everything). A candidate
scores AlphaOPT's

    (pos_retrieved + unr_retrieved + (|neg| - neg_retrieved)) / total

and replaces the condition only if it beats the original's |pos| / total.
Then insights that hurt more than they help (negative > positive, at least
`min_negative` times) are retired. Only conditions change; explanations and
examples stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nl2opt.library.checks import check_request, read_check
from nl2opt.library.embeddings import EmbeddingClient
from nl2opt.library.model import Insight, Status, TrainingTask
from nl2opt.library.retrieval import LibraryRetriever, RetrievalOptions
from nl2opt.library.solving import StopOnPending
from nl2opt.library.store import LibraryStore
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMBackend, LLMRequest, Sampling
from nl2opt.prompts import render_prompt

REFINE_PROMPT = "library_refine.v1"
_SHOWN_TASKS = 5  # per kind, in the refine prompt
_PROBLEM_CHARS = 1500


@dataclass(frozen=True)
class RefineOptions:
    variants: int = 3  # K candidate conditions per insight
    min_negative: int = 2  # retire only with at least this many negative tasks
    retrieval: RetrievalOptions = RetrievalOptions()
    embeddings: EmbeddingClient | None = None  # dense ranking (shared: vectors cached)


@dataclass
class Rewrite:
    insight_id: str
    variant: int
    before: str
    after: str
    score_before: float
    score_after: float


@dataclass
class RefineSummary:
    examined: int = 0
    rewrites: list[Rewrite] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


@dataclass
class Target:
    """An insight to refine, its affected tasks and its candidate conditions."""

    insight: Insight
    positive: list[TrainingTask]
    negative: list[TrainingTask]
    unretrieved: list[TrainingTask]
    variants: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> list[TrainingTask]:
        return self.positive + self.negative + self.unretrieved


def variant_score(positive: int, negative: int, unretrieved: int, retrieved_positive: int,
                  retrieved_negative: int, retrieved_unretrieved: int) -> float:
    """AlphaOPT's score of a candidate condition (see the module docstring)."""
    total = positive + negative + unretrieved
    if total == 0:
        return 0.0
    return (retrieved_positive + retrieved_unretrieved + negative - retrieved_negative) / total


def refine_request(target: Target, variants: int) -> LLMRequest:
    def texts(tasks: Sequence[TrainingTask]) -> list[str]:
        return [t.question.strip()[:_PROBLEM_CHARS] for t in tasks[:_SHOWN_TASKS]]

    prompt = render_prompt(REFINE_PROMPT, insight=target.insight, variants=variants,
                           negative=texts(target.negative), positive=texts(target.positive),
                           unretrieved=texts(target.unretrieved))
    schema = {"type": "object", "required": ["conditions"], "properties": {
        "conditions": {"type": "array", "items": {"type": "string"}}}}
    return LLMRequest(messages=prompt.messages, json_schema=schema, schema_name="conditions",
                      prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.7, max_tokens=2048))


def read_conditions(text: str, parsed: dict | None, limit: int) -> list[str]:
    payload = parsed if parsed is not None else extract_json(text)
    values = payload.get("conditions") if isinstance(payload, dict) else None
    found = [str(v).strip() for v in values or [] if str(v).strip()]
    return list(dict.fromkeys(found))[:limit]


class Refiner:
    def __init__(self, store: LibraryStore, llm: LLMBackend,
                 options: RefineOptions = RefineOptions()) -> None:
        self.store = store
        self.llm = StopOnPending(llm)
        self.options = options
        self.library = store.list(Status.verified)
        self.taxonomy = store.taxonomy()

    def refine(self) -> RefineSummary:
        summary = RefineSummary(examined=len(self.library))
        targets = self.targets()
        if targets:
            replies = self.llm.generate([refine_request(t, self.options.variants)
                                         for t in targets])
            for target, reply in zip(targets, replies):
                target.variants = read_conditions(reply[0].text, reply[0].parsed,
                                                  self.options.variants)
            retrieved = self.replay(targets)
            summary.rewrites = [r for t in targets if (r := self.best(t, retrieved))]
            self.commit(summary.rewrites, retrieved)
        summary.retired = self.retire()
        return summary

    def targets(self) -> list[Target]:
        def tasks(uids: list[str]) -> list[TrainingTask]:
            return [t for t in map(self.store.get_task, uids) if t is not None]

        found = []
        for insight in self.library:
            stats = insight.stats
            target = Target(insight, tasks(stats.positive), tasks(stats.negative),
                            tasks(stats.unretrieved))
            if target.negative or target.unretrieved:
                found.append(target)
        return found

    def replay(self, targets: list[Target]) -> dict[tuple[str, int, str], bool]:
        """(insight id, variant number, task uid) -> retrieved with that condition."""
        jobs: list[tuple[tuple[str, int, str], TrainingTask, list[Insight]]] = []
        retrieved: dict[tuple[str, int, str], bool] = {}
        every = list(dict.fromkeys(t.question for target in targets for t in target.tasks))
        predicted = dict(zip(every, self._labels(every)))  # one batched call
        for target in targets:
            questions = [t.question for t in target.tasks]
            labels = [predicted[question] for question in questions]
            for number, condition in enumerate(target.variants):
                variant = target.insight.model_copy(update={"condition": condition})
                library = [variant if i.id == variant.id else i for i in self.library]
                retriever = LibraryRetriever(library, self.taxonomy, self.llm,
                                             self.options.retrieval, self.options.embeddings)
                for task, found in zip(target.tasks, retriever.candidates_many(questions,
                                                                               labels)):
                    retrieved[(variant.id, number, task.uid)] = False
                    if any(i.id == variant.id for i in found):
                        jobs.append(((variant.id, number, task.uid), task, found))
        if jobs:
            replies = self.llm.generate([check_request(task.question, found)
                                         for _, task, found in jobs])
            for (key, _, found), reply in zip(jobs, replies):
                retrieved[key] = any(i.id == key[0] for i in read_check(reply[0], found))
        return retrieved

    def _labels(self, questions: list[str]):
        probe = LibraryRetriever(self.library, self.taxonomy, self.llm, self.options.retrieval,
                                 self.options.embeddings)
        return probe.predict_labels(questions)

    def best(self, target: Target, retrieved: dict) -> Rewrite | None:
        total = len(target.tasks)
        original = len(target.positive) / total if total else 0.0
        best, best_score = None, original
        for number, condition in enumerate(target.variants):
            def hits(tasks: list[TrainingTask], n: int = number) -> int:
                return sum(retrieved.get((target.insight.id, n, t.uid), False) for t in tasks)

            score = variant_score(len(target.positive), len(target.negative),
                                  len(target.unretrieved), hits(target.positive),
                                  hits(target.negative), hits(target.unretrieved))
            if score > best_score:
                best, best_score = (number, condition), score
        if best is None:
            return None
        return Rewrite(target.insight.id, best[0], target.insight.condition, best[1], original,
                       best_score)

    def commit(self, rewrites: list[Rewrite], retrieved: dict) -> None:
        """New conditions, with statistics as replayed: positive and negative tasks that
        still retrieve it, unretrieved ones that still miss it (tasks not in the store
        could not be replayed and stay as they were)."""
        for rewrite in rewrites:
            def kept(uids: list[str], want: bool, r: Rewrite = rewrite) -> list[str]:
                return [u for u in uids
                        if retrieved.get((r.insight_id, r.variant, u), want) == want]

            with self.store.transaction():
                insight = self.store.require(rewrite.insight_id)
                stats = insight.stats.model_copy(update={
                    "positive": kept(insight.stats.positive, True),
                    "negative": kept(insight.stats.negative, True),
                    "unretrieved": kept(insight.stats.unretrieved, False)})
                self.store.save(insight.model_copy(update={"condition": rewrite.after,
                                                           "stats": stats}),
                                f"refined: score {rewrite.score_before:.2f} -> "
                                f"{rewrite.score_after:.2f}")

    def retire(self) -> list[str]:
        retired = []
        for insight in self.store.list(Status.verified):
            negative, positive = len(insight.stats.negative), len(insight.stats.positive)
            if negative >= self.options.min_negative and negative > positive:
                self.store.retire(insight.id, f"retired by refinement: misled {negative} "
                                              f"task(s), helped {positive}")
                retired.append(insight.id)
        return retired


def refine(store: LibraryStore, llm: LLMBackend, options: RefineOptions = RefineOptions()
           ) -> RefineSummary:
    """Rewrite conditions and retire harmful insights (see the module docstring)."""
    return Refiner(store, llm, options).refine()
