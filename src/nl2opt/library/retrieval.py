"""Retrieval at formulation time: cheap hybrid ranking, then one LLM check.

For a batch of problem statements:

1. lexical: BM25 (the `bm25s` library, Snowball stemming through PyStemmer)
   over each insight's condition and taxonomy label;
2. taxonomy labels the problem touches, predicted for all problems in one
   batched LLM call (skipped when the library is small enough that every
   insight is a candidate anyway);
3. optionally dense: cosine similarity of embeddings from an OpenAI-compatible
   `/v1/embeddings` endpoint (a failing endpoint switches this ranking off with one
   warning, see `nl2opt.library.embeddings`);
4. reciprocal-rank fusion of those lists gives the candidates, and one batched
   LLM call checks each candidate's condition against the problem;
5. the applicable insights, in the checker's order, fill a token budget.

Nothing here imports the pipeline: `LibraryRetriever` satisfies
`nl2opt.pipeline.insights.InsightProvider` by its shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nl2opt.library.checks import check_request, labels_request, read_check, read_labels
from nl2opt.library.embeddings import EmbeddingClient, dimension_mismatch
from nl2opt.library.model import Insight, Status, TaxonomyEntry, TaxonomyPath, estimate_tokens
from nl2opt.library.store import LibraryStore, open_store
from nl2opt.llm.types import LLMBackend


@dataclass(frozen=True)
class RetrievalOptions:
    candidates: int = 10  # fused candidates the LLM checks per problem
    labels: bool = True  # predict taxonomy labels with the LLM
    check: bool = True  # check conditions with the LLM (without it: lexical matches only)
    max_insights: int = 5
    token_budget: int = 1500  # for the insights' text in the formulate prompt
    statuses: tuple[Status, ...] = (Status.verified,)
    rrf_k: int = 60  # the usual reciprocal-rank-fusion constant


class LexicalIndex:
    """BM25 over short texts; bm25s and PyStemmer are imported here, on first use."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self.size = len(texts)
        self._index = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer,
                                    show_progress=False)
            self._index.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Per query, up to `k` (position, score) pairs with a positive score, best first."""
        k = min(k, self.size)
        if k == 0:
            return [[] for _ in queries]
        tokens = self._bm25s.tokenize(list(queries), stopwords="en", stemmer=self._stemmer,
                                      show_progress=False, return_ids=False)
        found, scores = self._index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [[(int(d), float(s)) for d, s in zip(row, row_scores) if s > 0]
                for row, row_scores in zip(found, scores)]


def prompt_text(insight: Insight) -> str:
    """Roughly what the formulate prompt shows of an insight (for the token budget)."""
    return f"{insight.label}\n{insight.condition}\n{insight.explanation}\n{insight.example}"


def fit_budget(insights: Sequence[Insight], token_budget: int, max_insights: int
               ) -> list[Insight]:
    """The insights, in order, that fit the budget; one too long for it is skipped."""
    chosen, used = [], 0
    for insight in insights:
        cost = estimate_tokens(prompt_text(insight))
        if used + cost <= token_budget and len(chosen) < max_insights:
            chosen.append(insight)
            used += cost
    return chosen


def fuse(rankings: Sequence[Sequence[int]], rrf_k: int) -> list[int]:
    """Reciprocal-rank fusion of several rankings of positions, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, position in enumerate(ranking):
            scores[position] = scores.get(position, 0.0) + 1.0 / (rrf_k + rank + 1)
    return sorted(scores, key=lambda position: (-scores[position], position))


def top_positions(similarity: np.ndarray, depth: int) -> list[list[int]]:
    """Per row, the `depth` best columns, best first (ties: lower column first); a partial
    sort, so ranking 10,000 insights costs about what reading them does."""
    depth = min(depth, similarity.shape[1])
    if depth == 0:
        return [[] for _ in similarity]
    found = []
    for row in similarity:
        kth = -np.partition(-row, depth - 1)[depth - 1]  # the depth-th best value
        above = np.flatnonzero(row > kth)
        top = np.concatenate([above, np.flatnonzero(row == kth)[:depth - len(above)]])
        found.append([int(position) for position in top[np.lexsort((top, -row[top]))]])
    return found


class LibraryRetriever:
    """Finds the insights that apply to problem statements (see the module docstring)."""

    def __init__(self, insights: Sequence[Insight], taxonomy: Sequence[TaxonomyEntry] = (),
                 llm: LLMBackend | None = None, options: RetrievalOptions = RetrievalOptions(),
                 embeddings: EmbeddingClient | None = None) -> None:
        self.insights = [i for i in insights if i.status in options.statuses]
        self.llm = llm
        self.options = options
        self.embeddings = embeddings
        used = {insight.taxonomy for insight in self.insights}
        known = {entry.path: entry for entry in taxonomy}
        self.topics = [known.get(path, TaxonomyEntry(path=path))
                       for path in sorted(used, key=lambda p: p.label)]
        self._by_path: dict[TaxonomyPath, list[int]] = {}
        for position, insight in enumerate(self.insights):
            self._by_path.setdefault(insight.taxonomy, []).append(position)
        self.lexical = LexicalIndex([f"{i.condition} {i.taxonomy.level1} {i.taxonomy.level2}"
                                     for i in self.insights])
        self._dense: np.ndarray | None = None

    @property
    def small(self) -> bool:
        """Few enough insights that every one is a candidate (no ranking needed)."""
        return len(self.insights) <= self.options.candidates

    def retrieve(self, problem: str) -> list[Insight]:
        return self.retrieve_many([problem])[0]

    def retrieve_many(self, problems: Sequence[str]) -> list[list[Insight]]:
        """The applicable insights for each problem, within the token budget."""
        if not self.insights:
            return [[] for _ in problems]
        candidates = self.candidates_many(problems, self.predict_labels(problems))
        checked = self.check(problems, candidates)
        return [fit_budget(found, self.options.token_budget, self.options.max_insights)
                for found in checked]

    def predict_labels(self, problems: Sequence[str]) -> list[list[TaxonomyPath]]:
        """Taxonomy labels per problem, from one batched LLM call (or none at all)."""
        if self.llm is None or not self.options.labels or self.small or not self.topics:
            return [[] for _ in problems]
        requests = [labels_request(problem, self.topics) for problem in problems]
        replies = self.llm.generate(requests)
        return [read_labels(reply[0], self.topics) for reply in replies]

    def candidates_many(self, problems: Sequence[str],
                        labels: Sequence[Sequence[TaxonomyPath]] | None = None
                        ) -> list[list[Insight]]:
        """Fused candidates per problem, no LLM involved (labels are given)."""
        if self.small:
            lexical = self.lexical.search(problems, len(self.insights))
            return [self._small_candidates(found) for found in lexical]
        depth = max(3 * self.options.candidates, 30)
        lexical = self.lexical.search(problems, depth)
        dense = self._dense_rankings(problems, depth)
        results = []
        for k in range(len(problems)):
            lexical_ranking = [position for position, _ in lexical[k]]
            rankings = [lexical_ranking, dense[k], self._label_ranking(
                labels[k] if labels else [], lexical_ranking)]
            fused = fuse(rankings, self.options.rrf_k)[:self.options.candidates]
            results.append([self.insights[position] for position in fused])
        return results

    def _small_candidates(self, lexical: list[tuple[int, float]]) -> list[Insight]:
        """Every insight, lexical matches first; without an LLM check only the matches."""
        order = [position for position, _ in lexical]
        if self.llm is not None and self.options.check:
            order += [p for p in range(len(self.insights)) if p not in order]
        return [self.insights[position] for position in order]

    def _label_ranking(self, labels: Sequence[TaxonomyPath], lexical: list[int]) -> list[int]:
        members = [p for path in labels for p in self._by_path.get(path, [])]
        lexical_rank = {position: rank for rank, position in enumerate(lexical)}
        return sorted(dict.fromkeys(members),
                      key=lambda p: (lexical_rank.get(p, len(lexical)), p))

    def _dense_rankings(self, problems: Sequence[str], depth: int) -> list[list[int]]:
        """Per problem, insights by cosine similarity; none once the endpoint failed."""
        similarity = self._similarity(problems)
        if similarity is None:
            return [[] for _ in problems]
        return top_positions(similarity, depth)

    def _similarity(self, problems: Sequence[str]) -> np.ndarray | None:
        client = self.embeddings
        if client is None or client.failure is not None:
            return None
        if self._dense is None:
            self._dense = client.try_embed([i.condition for i in self.insights], persist=True)
        queries = client.try_embed(list(problems)) if self._dense is not None else None
        if queries is None or self._dense is None:
            return None
        if queries.shape[1] != self._dense.shape[1]:
            client.fail(dimension_mismatch(client.model, self._dense.shape[1],
                                           queries.shape[1]))
            return None
        return queries @ self._dense.T

    def check(self, problems: Sequence[str], candidates: Sequence[Sequence[Insight]]
              ) -> list[list[Insight]]:
        """The candidates whose condition holds, per problem (one batched LLM call)."""
        if self.llm is None or not self.options.check:
            return [list(found) for found in candidates]
        asked = [k for k, found in enumerate(candidates) if found]
        results: list[list[Insight]] = [[] for _ in problems]
        if not asked:
            return results
        replies = self.llm.generate([check_request(problems[k], candidates[k]) for k in asked])
        for k, reply in zip(asked, replies):
            results[k] = read_check(reply[0], candidates[k])
        return results


def open_retriever(library: str | Path | LibraryStore, llm: LLMBackend | None = None,
                   options: RetrievalOptions = RetrievalOptions(),
                   embeddings: str | EmbeddingClient | None = None,
                   warn: Callable[[str], None] | None = None) -> LibraryRetriever:
    """A retriever over a library file (which must exist) or an open store. `embeddings`
    (a spec or a client) adds dense ranking; `warn` hears when that ranking is switched
    off because the endpoint failed (see `nl2opt.library.embeddings`)."""
    client = embedding_client(embeddings, warn)
    store = open_store(library)
    try:
        return LibraryRetriever(store.list(options.statuses), store.taxonomy(), llm, options,
                                client)
    finally:
        if store is not library:
            store.close()


def embedding_client(embeddings: str | EmbeddingClient | None,
                     warn: Callable[[str], None] | None = None) -> EmbeddingClient | None:
    """A client for a spec (a bad spec is an error now); a client or None as given."""
    if isinstance(embeddings, str):
        return EmbeddingClient.from_spec(embeddings, warn) if embeddings.strip() else None
    return embeddings
