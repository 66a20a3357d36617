"""Retrieval: BM25 ranking, batched LLM labels and checks, dense embeddings, the budget,
and the formulate prompt that shows the insights."""

from __future__ import annotations

import hashlib
import json

import pytest
from library_helpers import CASES, PERCENT_CONDITION, PERCENT_EXAMPLE, hand_library, insight
from llm_server import ChatServer

from nl2opt.library.embeddings import EmbeddingClient
from nl2opt.library.model import Status
from nl2opt.library.retrieval import LibraryRetriever, RetrievalOptions, fit_budget, fuse
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.pipeline.insights import FixedInsights
from nl2opt.pipeline.run import PipelineOptions, solve_text


class CountingLLM(ScriptedBackend):
    """A scripted LLM that also counts generate() calls (one per batch)."""

    def __init__(self, replies):
        super().__init__(replies)
        self.calls = 0

    def generate(self, requests):
        self.calls += 1
        return super().generate(requests)


@pytest.mark.parametrize("candidates", [3, 10])
@pytest.mark.parametrize("problem, key", CASES)
def test_lexical_ranking_puts_the_applicable_insight_first(problem, key, candidates):
    library = hand_library()
    retriever = LibraryRetriever(list(library.values()), options=RetrievalOptions(
        candidates=candidates, check=False))
    found = retriever.candidates_many([problem])[0]
    assert found and found[0].id == library[key].id


def test_labels_and_check_are_one_batched_call_each():
    library = hand_library()
    problems = [problem for problem, _ in CASES[:3]]
    retriever = LibraryRetriever(list(library.values()), llm=None,
                                 options=RetrievalOptions(candidates=3))
    topics = [entry.path.level2 for entry in retriever.topics]
    labels = [{"labels": [topics.index(level) + 1]} for level in
              ("Percentage limits", "Integrality", "Flow Conservation")]
    llm = CountingLLM(labels + [{"applicable": [1]}, {"applicable": []}, {"applicable": [1]}])
    retriever.llm = llm
    found = retriever.retrieve_many(problems)
    assert llm.calls == 2 and len(llm.requests) == 6
    assert llm.requests[0].prompt_id == "library_labels.v1"
    assert llm.requests[3].prompt_id == "library_check.v1"
    assert [ins.id for ins in found[0]] == [library["percent"].id]
    assert found[1] == [] and [ins.id for ins in found[2]] == [library["flow"].id]
    # The check saw the label-matched insight among the candidates.
    assert "Percentage limits" in llm.requests[3].messages[-1].content


def test_small_library_skips_labels_and_checks_everything():
    library = hand_library()
    llm = CountingLLM([{"applicable": [2, 99, 2]}])
    retriever = LibraryRetriever(list(library.values()), llm=llm)
    found = retriever.retrieve(CASES[0][0])
    assert llm.calls == 1 and llm.requests[0].prompt_id == "library_check.v1"
    assert CASES[0][0] in llm.requests[0].messages[-1].content
    assert len(found) == 1  # 99 is out of range and the repeat is dropped


def test_only_verified_insights_by_default_and_unreadable_check_means_none():
    candidate = insight(PERCENT_CONDITION, status=Status.candidate)
    assert LibraryRetriever([candidate]).retrieve(CASES[0][0]) == []
    verified = insight(PERCENT_CONDITION)
    retriever = LibraryRetriever([verified], llm=ScriptedBackend(["I think number one."]))
    assert retriever.retrieve(CASES[0][0]) == []


def test_budget_and_fusion():
    library = list(hand_library().values())
    assert fit_budget(library, token_budget=10_000, max_insights=3) == library[:3]
    assert len(fit_budget(library, token_budget=60, max_insights=10)) == 1
    long = insight("x " * 1000)
    assert fit_budget([long] + library[:1], 100, 5) == library[:1]
    assert fuse([[1, 2, 3], [3, 1]], rrf_k=60)[:2] == [1, 3]


def _bag_of_words(text: str) -> list[float]:
    """A deterministic toy embedding: hashed words, with synonyms sharing a bucket."""
    synonyms = {"share": "percentage", "proportion": "percentage", "fraction": "percentage"}
    vector = [0.0] * 64
    for word in text.lower().replace(",", " ").replace(".", " ").split():
        word = synonyms.get(word, word)
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
    return vector


def test_dense_embeddings_through_an_openai_compatible_endpoint():
    library = hand_library()
    problem = "The proportion of sugar in the blend cannot exceed a fixed share."
    with ChatServer(embed=_bag_of_words) as server:
        client = EmbeddingClient("toy-embed", server.base_url)
        retriever = LibraryRetriever(list(library.values()), embeddings=client,
                                     options=RetrievalOptions(candidates=2, check=False))
        found = retriever.candidates_many([problem])[0]
        assert library["percent"].id in [i.id for i in found]
        retriever.candidates_many([problem])
        # Conditions are embedded once, and a repeated query is not sent again.
        assert len(server.embedding_requests) == 2
        assert server.embedding_requests[0]["model"] == "toy-embed"


def test_formulate_prompt_shows_insights_and_attempts_record_them():
    percent = insight(PERCENT_CONDITION, example=PERCENT_EXAMPLE)
    answer = json.dumps({"reasoning": "r", "formulation": {
        "variables": [{"name": "x"}], "objective": {"sense": "minimize", "expression": "x"},
        "constraints": [{"name": "c", "expression": "x >= 1"}]}})
    llm = ScriptedBackend([answer, answer])
    report = solve_text("Buy at least one.", llm, PipelineOptions(rounds=0),
                        insights=FixedInsights([percent]))
    request = llm.requests[0]
    assert request.prompt_id == "formulate.v4" and request.metadata["insight_ids"] == percent.id
    text = request.messages[-1].content
    assert PERCENT_CONDITION in text and "wheat <= 0.4" in text
    assert report.attempts[0].insight_ids == [percent.id] and report.insight_ids == [percent.id]
    plain = solve_text("Buy at least one.", llm, PipelineOptions(rounds=0),
                       insights=FixedInsights([]))
    assert llm.requests[1].prompt_id == "formulate.v3" and plain.insight_ids == []
    assert llm.requests[1].key() == solve_request_key_without_library()


def solve_request_key_without_library() -> str:
    from nl2opt.pipeline.run import formulation_request

    return formulation_request("Buy at least one.", PipelineOptions(rounds=0)).key()
