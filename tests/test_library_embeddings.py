"""Dense retrieval through a real OpenAI-compatible `/v1/embeddings` endpoint (the test
server): `--embeddings` finds a paraphrase that lexical ranking misses, a failing endpoint
warns and retrieval goes on without it, and vectors are cached (requests counted at the
server)."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from embedding_helpers import (
    PARAPHRASE,
    fake_model,
    library_insights,
    toy_embedding,
    write_library,
)
from library_helpers import farm_optimum
from llm_server import ChatServer, Reply
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app
from nl2opt.evaluation.records import read_run_info
from nl2opt.library.embeddings import (
    EmbeddingClient,
    EmbeddingError,
    EmbeddingWarning,
    VectorCache,
    read_vectors,
)
from nl2opt.library.retrieval import LibraryRetriever, RetrievalOptions
from nl2opt.library.store import LibraryStore

runner = CliRunner()


@pytest.fixture(autouse=True)
def vector_file(tmp_path, monkeypatch):
    """The vector file of clients made from a spec: in this test's folder."""
    path = tmp_path / "cache" / "embeddings.sqlite"
    monkeypatch.setenv("NL2OPT_EMBEDDING_CACHE", str(path))
    return path


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_dense_ranking_finds_the_paraphrase_that_lexical_ranking_misses():
    insights = library_insights()
    options = RetrievalOptions(check=False)  # 10 candidates of 12 insights
    lexical = LibraryRetriever(insights, options=options).candidates_many([PARAPHRASE])[0]
    assert insights[0] not in lexical and len(lexical) == 7  # words match, not meaning
    with ChatServer(embed=toy_embedding) as server:
        client = EmbeddingClient("toy-embed", server.base_url)
        dense = LibraryRetriever(insights, options=options, embeddings=client)
        assert insights[0] in dense.candidates_many([PARAPHRASE])[0]


def test_cli_embeddings_change_the_answer_of_a_paraphrased_problem(tmp_path):
    path = tmp_path / "lib.sqlite"
    percent_id = write_library(path)
    with ChatServer(fake_model, embed=toy_embedding) as server:
        llm = f"openai:test-model@{server.base_url}"
        base = ["solve", PARAPHRASE, "--llm", llm, "--library", str(path), "--rounds", "0",
                "--json"]
        plain = runner.invoke(app, base)
        assert plain.exit_code == 0, plain.output
        report = json.loads(plain.stdout)  # the percentage written as 30, and >=
        assert report["attempts"][0]["insight_ids"] == []
        assert report["result"]["termination"] == "infeasible"
        assert server.embedding_requests == []
        dense = runner.invoke(app, [*base, "--embeddings", f"openai:toy-embed@{server.base_url}"])
        assert dense.exit_code == 0, dense.output
        report = json.loads(dense.stdout)
        assert report["attempts"][0]["insight_ids"] == [percent_id]
        assert report["result"]["objective"] == farm_optimum(100, 30, 500, 300)
        # One request for the library's conditions, one for the problem.
        assert [len(r["input"]) for r in server.embedding_requests] == [12, 1]
        formulate = runner.invoke(app, ["formulate", PARAPHRASE, "--llm", llm, "--rounds", "0",
                                        "--library", str(path), "--embeddings",
                                        f"openai:toy-embed@{server.base_url}"])
        assert formulate.exit_code == 0 and "0.3 * (corn + wheat)" in formulate.stdout


def test_dead_endpoint_warns_and_the_run_goes_on_lexically(tmp_path):
    path = tmp_path / "lib.sqlite"
    percent_id = write_library(path)
    problem = ("A farmer has 100 acres to plant with wheat and corn. At most 30% of the "
               "planted land may be corn (a percentage limit). Each acre of corn earns $500 "
               "and each acre of wheat $300. All land is planted. How many acres of each "
               "maximize profit?")
    with ChatServer(fake_model) as server:
        result = runner.invoke(app, ["solve", problem, "--llm",
                                     f"openai:test-model@{server.base_url}", "--library",
                                     str(path), "--rounds", "0", "--json", "--embeddings",
                                     f"openai:toy-embed@{closed_port_url()}"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["attempts"][0]["insight_ids"] == [percent_id]
    warning = " ".join(result.stderr.split())
    assert "warning: dense retrieval is off: cannot reach the embedding server" in warning
    assert "lexical and taxonomy ranking only" in warning and "vllm serve" in warning


def test_api_warns_with_an_embedding_warning(tmp_path):
    path = tmp_path / "lib.sqlite"
    write_library(path)
    # A chat server without /v1/embeddings.
    with ChatServer(fake_model) as server, pytest.warns(EmbeddingWarning, match="HTTP 404"):
        report = nl2opt.solve(PARAPHRASE, llm=f"openai:test-model@{server.base_url}",
                              rounds=0, library=path,
                              library_embeddings=f"openai:toy@{server.base_url}")
    assert report.insight_ids == []  # no dense ranking, so the paraphrase is missed


def test_bad_spec_or_embeddings_without_a_library_stop_at_once(tmp_path):
    path = tmp_path / "lib.sqlite"
    write_library(path)
    bad = runner.invoke(app, ["solve", PARAPHRASE, "--llm", "demo", "--library", str(path),
                              "--embeddings", "bge-small"])
    assert bad.exit_code == 2 and "bad embedding spec 'bge-small'" in bad.stderr
    alone = runner.invoke(app, ["formulate", PARAPHRASE, "--llm", "demo", "--embeddings",
                                "openai:m@http://localhost:1/v1"])
    assert alone.exit_code == 2 and "add --library FILE" in alone.stderr
    learn = runner.invoke(app, ["library", "learn", str(tmp_path / "none.jsonl"), "--library",
                                str(path), "--llm", "demo", "--embeddings", "nope"])
    assert learn.exit_code == 2


@pytest.mark.parametrize("served, message", [
    (lambda text: "not a vector", "something other than lists of numbers"),
    (lambda text: [], "vectors of unequal length, empty or not finite"),
    (lambda text: Reply(status=500, error="model not loaded"), "HTTP 500"),
])
def test_unusable_replies_switch_dense_ranking_off_once(served, message):
    insights = library_insights()
    warnings: list[str] = []
    with ChatServer(embed=served) as server:
        client = EmbeddingClient("toy", server.base_url, warn=warnings.append)
        retriever = LibraryRetriever(insights, options=RetrievalOptions(candidates=3,
                                                                        check=False),
                                     embeddings=client)
        found = retriever.candidates_many([PARAPHRASE])[0]
        retriever.candidates_many(["another problem"])
        asked = len(server.embedding_requests)
    assert found == LibraryRetriever(insights, options=RetrievalOptions(
        candidates=3, check=False)).candidates_many([PARAPHRASE])[0]
    assert len(warnings) == 1 and message in warnings[0]
    assert asked <= 3  # the first request (and the SDK's retries of a 500), then no more


def test_a_changed_dimension_in_mid_run_is_named_and_dense_ranking_stops():
    insights = library_insights()
    warnings: list[str] = []

    def shrinking(text: str) -> list[float]:  # the model behind the endpoint is swapped
        return toy_embedding(text, 64 if text in {i.condition for i in insights} else 32)

    with ChatServer(embed=shrinking) as server:
        client = EmbeddingClient("toy", server.base_url, warn=warnings.append)
        retriever = LibraryRetriever(insights, options=RetrievalOptions(candidates=3),
                                     embeddings=client)
        retriever.candidates_many([PARAPHRASE])
    assert len(warnings) == 1
    assert "now answers 32-dimensional vectors, but the vectors embedded earlier have 64" \
        in warnings[0] and "the next run embeds afresh" in warnings[0]
    assert client.failure is not None and len(client.cache) == 0


def test_vectors_are_cached_across_retrievers_and_only_changed_conditions_resent():
    insights = library_insights()
    with ChatServer(embed=toy_embedding) as server:
        client = EmbeddingClient("toy", server.base_url)
        options = RetrievalOptions(candidates=3, check=False)
        LibraryRetriever(insights, options=options, embeddings=client).candidates_many(
            [PARAPHRASE])
        # A new retriever per chunk (as learning builds one), the same problem again, and
        # one insight edited (a new version): only its new condition goes to the server.
        edited = insights[1].model_copy(update={"condition": "Trucks come in whole units."})
        again = LibraryRetriever([insights[0], edited, *insights[2:]], options=options,
                                 embeddings=client)
        again.candidates_many([PARAPHRASE])
        again.candidates_many([PARAPHRASE])
        sent = [r["input"] for r in server.embedding_requests]
    # The conditions, the problem, then only the edited condition.
    assert [len(texts) for texts in sent] == [12, 1, 1]
    assert sent[2] == ["Trucks come in whole units."]


def test_vector_cache_is_bounded_and_least_recently_used_goes_first():
    cache = VectorCache(max_bytes=3 * 4 * 4)  # three 4-float vectors
    for name in "abc":
        cache.put(name, np.ones(4, dtype=np.float32))
    cache.get("a")
    cache.put("d", np.ones(4, dtype=np.float32))
    assert "b" not in cache and {"a", "c", "d"} <= {t for t in "abcd" if t in cache}
    assert len(cache) == 3 and cache.bytes == 48 and cache.dimension == 4


def test_read_vectors_orders_by_index_and_rejects_a_short_reply():
    body = {"data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3, 4]}]}
    assert np.allclose(read_vectors(body, 2), [[0.6, 0.8], [0.0, 1.0]])
    with pytest.raises(EmbeddingError, match="answered 1 vectors for 2 texts"):
        read_vectors({"data": body["data"][:1]}, 2)
    with pytest.raises(EmbeddingError, match="no embeddings"):
        read_vectors({"choices": []}, 1)


def test_eval_records_the_embeddings_spec_and_resumes_only_with_it(tmp_path):
    path = tmp_path / "lib.sqlite"
    write_library(path)
    dataset = tmp_path / "farms.jsonl"
    dataset.write_text(json.dumps({"uid": "f0", "question": PARAPHRASE,
                                   "answer": farm_optimum(100, 30, 500, 300)}) + "\n")
    with ChatServer(fake_model, embed=toy_embedding) as server:
        spec = f"openai:toy-embed@{server.base_url}"
        args = ["eval", str(dataset), "--llm", f"openai:test-model@{server.base_url}",
                "--library", str(path), "--workers", "0", "--rounds", "0", "--out",
                str(tmp_path / "run"), "--no-report"]
        result = runner.invoke(app, [*args, "--embeddings", spec])
        assert result.exit_code == 0, result.output
        assert "100.0%" in result.stdout
        assert read_run_info(tmp_path / "run").config.embeddings == spec
        again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code != 0 and "embeddings" in again.output


def test_refine_replays_rank_densely_and_send_each_text_once(tmp_path):
    from library_helpers import farm_problem, insight
    from library_rules import REFINED, RuleLLM

    from nl2opt.library.model import Outcome, TrainingTask
    from nl2opt.library.refine import RefineOptions, refine

    with LibraryStore(tmp_path / "lib.sqlite") as store, ChatServer(
            embed=toy_embedding) as server:
        for item in library_insights()[1:]:  # eleven others: ranking matters
            store.add(item)
        broad = store.add(insight("The problem mentions a percentage."))
        questions = {"farm": farm_problem(100, 40, 500, 300),
                     "shop": "A shop gives a 10% discount on shirts. Maximize revenue."}
        for uid, question in questions.items():
            store.put_task(TrainingTask(uid=uid, question=question, answer=1.0))
        store.record_outcomes(broad.id, [(Outcome.positive, "farm"),
                                         (Outcome.negative, "shop")])
        client = EmbeddingClient("toy", server.base_url)
        summary = refine(store, RuleLLM(), RefineOptions(variants=2, embeddings=client))
        sent = [text for body in server.embedding_requests for text in body["input"]]
    assert [r.after for r in summary.rewrites] == [REFINED[0]]
    # The library once, the tasks once, each new variant condition once: nothing twice.
    assert len(sent) == len(set(sent)) and set(REFINED[:2]) <= set(sent)
    assert set(questions.values()) <= set(sent) and client.failure is None


def test_library_retrieve_shows_what_dense_ranking_adds(tmp_path):
    path = tmp_path / "lib.sqlite"
    percent_id = write_library(path)
    base = ["library", "retrieve", PARAPHRASE, "--library", str(path)]
    lexical = runner.invoke(app, base)
    assert lexical.exit_code == 0 and "7 insight(s) ranked" in lexical.stdout
    assert percent_id not in lexical.stdout
    with ChatServer(fake_model, embed=toy_embedding) as server:
        dense = runner.invoke(app, [*base, "--embeddings", f"openai:toy@{server.base_url}"])
        checked = runner.invoke(app, [*base, "--embeddings", f"openai:toy@{server.base_url}",
                                      "--llm", f"openai:test-model@{server.base_url}"])
    assert dense.exit_code == 0 and percent_id in dense.stdout
    assert "10 insight(s) ranked" in dense.stdout
    assert checked.exit_code == 0 and "1 insight(s) applicable" in checked.stdout
    assert percent_id in checked.stdout


def test_top_positions_is_a_full_sort_cut_to_depth():
    from nl2opt.library.retrieval import top_positions

    similarity = np.random.default_rng(3).random((4, 500)).round(2)  # with ties
    for depth in (1, 30, 500, 900):
        expected = [list(np.lexsort((np.arange(500), -row)))[:depth] for row in similarity]
        assert top_positions(similarity, depth) == expected


def test_a_server_that_does_not_answer_in_time_is_named_and_skipped():
    import time

    warnings: list[str] = []

    def slow(text: str) -> list[float]:
        time.sleep(1.0)
        return toy_embedding(text)

    with ChatServer(embed=slow) as server:
        client = EmbeddingClient("toy", server.base_url, timeout=0.2, warn=warnings.append)
        assert client.try_embed(["a problem"]) is None and client.try_embed(["again"]) is None
    assert len(warnings) == 1 and "did not answer 1 text(s) within 0.2 s" in warnings[0]


def test_the_library_vectors_outlive_the_run_and_a_new_model_replaces_them(vector_file):
    insights = library_insights()
    dimension = {"now": 1024}

    def served(text: str) -> list[float]:
        return toy_embedding(text, dimension["now"])

    def run_once(server, problem: str) -> tuple[list[int], list[str]]:
        """A fresh process's worth: a new client and retriever, then one problem."""
        before = len(server.embedding_requests)
        warnings: list[str] = []
        client = EmbeddingClient.from_spec(f"openai:toy@{server.base_url}", warnings.append)
        LibraryRetriever(insights, options=RetrievalOptions(check=False),
                         embeddings=client).candidates_many([problem])
        return [len(b["input"]) for b in server.embedding_requests[before:]], warnings

    with ChatServer(embed=served) as server:
        assert run_once(server, PARAPHRASE) == ([12, 1], [])
        assert run_once(server, "Another problem.") == ([1], [])  # conditions from the file
        assert run_once(server, PARAPHRASE) == ([1], [])  # problems are not kept on disk
        dimension["now"] = 384  # another model behind the same name
        sent, warnings = run_once(server, "A third problem.")
        assert sent == [1] and len(warnings) == 1
        assert "now answers 384-dimensional vectors, but the vectors embedded earlier have " \
               "1024" in warnings[0]
        assert run_once(server, "A fourth problem.") == ([12, 1], [])  # afresh, no warning
    assert vector_file.exists()


def test_vector_file_is_bounded_optional_and_never_an_error(tmp_path, monkeypatch):
    from nl2opt.library.vector_file import VectorFile, default_vector_path

    vectors = VectorFile(tmp_path / "v.sqlite", max_rows=3)
    for k in range(5):
        vectors.put_many("m@u", {f"text {k}": np.full(4, k, dtype=np.float32)})
    assert vectors.count("m@u") == 3
    assert sorted(vectors.get_many("m@u", [f"text {k}" for k in range(5)])) == [
        "text 2", "text 3", "text 4"]  # the least recently used went first
    (tmp_path / "a file").write_text("x")
    broken = VectorFile(tmp_path / "a file" / "v.sqlite")
    broken.put_many("m@u", {"t": np.ones(4, dtype=np.float32)})
    assert broken.get_many("m@u", ["t"]) == {} and broken.count("m@u") == 0
    monkeypatch.setenv("NL2OPT_EMBEDDING_CACHE", "off")
    assert default_vector_path() is None
    assert EmbeddingClient.from_spec("openai:m@http://localhost:1/v1").vector_file is None


def test_learning_ranks_densely_and_embeds_each_condition_once(tmp_path):
    from library_helpers import farm_optimum as optimum
    from library_helpers import farm_problem
    from library_rules import RuleLLM

    from nl2opt.library.learn import LearnOptions, learn
    from nl2opt.library.model import TrainingTask

    tasks = [TrainingTask(uid=f"farm-{k}", dataset="farms", question=farm_problem(*numbers),
                          answer=optimum(*numbers))
             for k, numbers in enumerate([(100, 40, 500, 300), (60, 25, 700, 200)])]
    with LibraryStore(tmp_path / "lib.sqlite") as store, ChatServer(
            embed=toy_embedding) as server:
        for item in library_insights()[1:]:  # eleven insights that do not apply
            store.add(item)
        client = EmbeddingClient("toy", server.base_url)
        options = LearnOptions(run="dense", rounds=1, explore_tries=2, batch_size=1,
                               embeddings=client)
        summary = learn(store, RuleLLM(), tasks, options)
        (learned,) = [store.require(i) for i in summary.insights]
        sent = [text for body in server.embedding_requests for text in body["input"]]
    # The insight learned from the first chunk is retrieved for the second, which is right.
    assert summary.outcomes == {"farm-0": "learned", "farm-1": "correct"}
    # Two chunks, two retrievers: each condition and each task went once.
    assert len(sent) == len(set(sent)) and {t.question for t in tasks} <= set(sent)
    assert learned.condition in sent and client.failure is None
