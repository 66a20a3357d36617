"""Experience-library retrieval latency: 10,000 insights, 1,000 queries, no LLM.

Synthetic insights (conditions built from a modelling vocabulary) and synthetic
problem statements; each query is timed alone through the candidate stage
(BM25 over conditions and taxonomy words, taxonomy-label fusion, the token
budget), i.e. all of retrieval except the two LLM calls, which cost whatever
the model costs. Prints the index build time, p50/p95 latency, memory, and
the machine-readable line `retrieval_p50_ms=<x> insights=<n>` (target: p50 < 20 ms).

With `--dense DIM`, dense ranking is added through the real `EmbeddingClient` and a
local OpenAI-compatible `/v1/embeddings` server started here (hashed random vectors of
DIM floats, standing in for a model: what is measured is nl2opt's side, i.e. HTTP, JSON,
the matrix product and the cache, not a model's compute). It also prints the time to
embed the library once, the matrix's memory, and how long a second retriever (as
learning builds one per chunk) takes to get its vectors from the cache.

    python bench/library_retrieval.py [--insights 10000] [--queries 1000] [--dense 384]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import threading
import time
import zlib
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from nl2opt.library.embeddings import EmbeddingClient
from nl2opt.library.model import InsightDraft, Provenance, Stage, Status, TaxonomyPath
from nl2opt.library.retrieval import LibraryRetriever, RetrievalOptions, fit_budget

TOPICS = ["percentage limits", "integrality", "flow conservation", "fixed charges",
          "inventory balance", "unit conversion", "either-or", "ratios", "big-M linking",
          "time periods", "assignment", "capacity", "demand satisfaction", "budget",
          "blending", "scheduling", "routing", "set covering", "knapsack", "piecewise costs"]
WORDS = ("acres crops trucks workers shifts machines warehouses stores products hours minutes "
         "budget profit cost demand supply capacity percentage share fraction total least most "
         "period month week day stock storage route arc node hub plant facility open fixed "
         "setup binary whole integer units kilograms tons litres blend mix ingredient nutrient "
         "diet portfolio return risk investment project select assign task job deadline order "
         "sequence vehicle depot customer service level penalty shortage overtime hire fire "
         "contract lease buy sell price discount revenue margin ratio times twice half").split()


def synthetic_insights(count: int, rng: random.Random):
    insights = []
    for k in range(count):
        topic = TOPICS[k % len(TOPICS)]
        words = " ".join(rng.sample(WORDS, 12))
        draft = InsightDraft(
            taxonomy=TaxonomyPath(stage=list(Stage)[k % 3], level1=f"Area {k % 37}",
                                  level2=topic.title()),
            condition=f"The problem involves {topic} with {words}.",
            explanation=f"Model {topic} carefully; a common mistake is {rng.choice(WORDS)}.",
            example=f"Wrong: x >= {k}\nCorrect: x <= {k}")
        insights.append(draft.to_insight(Provenance(source_tasks=[f"t{k}"]), Status.verified))
    return insights


def synthetic_problem(rng: random.Random) -> str:
    words = " ".join(rng.choices(WORDS, k=60))
    return (f"A company plans {rng.choice(TOPICS)}: {words}. At most {rng.randint(5, 60)}% of "
            f"the total may be used. How many units should it make to maximize profit?")


@contextmanager
def embeddings_server(dim: int):
    """A local /v1/embeddings endpoint answering a fixed random vector per text."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        disable_nagle_algorithm = True  # else each small reply waits for a delayed ACK

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = [{"object": "embedding", "index": k, "embedding": np.random.default_rng(
                zlib.crc32(text.encode())).standard_normal(dim).round(5).tolist()}
                for k, text in enumerate(body["input"])]
            payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insights", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dense", type=int, default=0, metavar="DIM",
                        help="add dense ranking with DIM-dimensional vectors (e.g. 384)")
    args = parser.parse_args()
    rng = random.Random(7)
    insights = synthetic_insights(args.insights, rng)
    problems = [synthetic_problem(rng) for _ in range(args.queries)]
    if not args.dense:
        return measure(insights, problems, None)
    with embeddings_server(args.dense) as url:
        return measure(insights, problems, EmbeddingClient("bench-embed", url))


def measure(insights, problems, client: EmbeddingClient | None) -> int:
    rss_before = _rss_mib()
    started = time.perf_counter()
    options = RetrievalOptions(check=False)
    retriever = LibraryRetriever(insights, options=options, embeddings=client)
    build = time.perf_counter() - started
    index_mib = _rss_mib() - rss_before
    started = time.perf_counter()
    retriever.candidates_many(problems[:5])  # warm-up (with --dense: embeds the library)
    warm = time.perf_counter() - started
    latencies = []
    for problem in problems:
        started = time.perf_counter()
        found = retriever.candidates_many([problem])[0]
        fit_budget(found, options.token_budget, options.max_insights)
        latencies.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18]
    print(f"index: {len(insights)} insights built in {build:.2f} s (bm25s import included); "
          f"peak RSS grew {index_mib:.0f} MiB while building, to {_rss_mib():.0f} MiB")
    if client is not None:
        report_dense(retriever, client, insights, problems, warm)
    print(f"latency over {len(problems)} queries: p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
          f"max {max(latencies):.2f} ms (target p50 < 20 ms: {20 / p50:.1f}x margin)")
    kind = "retrieval_dense" if client is not None else "retrieval"
    print(f"{kind}_p50_ms={p50:.3f} insights={len(insights)}")
    return 0


def report_dense(retriever, client, insights, problems, warm: float) -> None:
    matrix = retriever._dense
    if matrix is None or client.failure is not None:
        raise SystemExit(f"dense ranking failed: {client.failure}")
    started = time.perf_counter()
    again = LibraryRetriever(insights, options=retriever.options, embeddings=client)
    again.candidates_many(problems[:1])
    cached = time.perf_counter() - started
    print(f"dense: embedding {len(insights)} conditions ({matrix.shape[1]} floats each) and 5 "
          f"problems took {warm:.2f} s over local HTTP; matrix {matrix.nbytes / 2**20:.1f} MiB,"
          f" cache {client.cache.bytes / 2**20:.1f} MiB ({len(client.cache)} vectors); a second "
          f"retriever (BM25 index + vectors from the cache) took {cached:.2f} s")


if __name__ == "__main__":
    raise SystemExit(main())
