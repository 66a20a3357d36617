"""Dense embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (optional).

vLLM serves embedding models (`vllm serve BAAI/bge-small-en-v1.5 --task embed`), as do
Ollama, text-embeddings-inference and hosted APIs; nothing is downloaded at run time.
Spec: ``openai:MODEL@http://host:port/v1`` (the LLM spec syntax); the API key is env
OPENAI_API_KEY, else "EMPTY". Vectors are L2-normalised, so a dot product is the
cosine similarity.

Dense ranking is an addition, never a requirement: when the endpoint is unreachable or
too slow, answers with something other than embeddings, or answers vectors of another
dimension than those embedded before (the model was swapped), the client warns once, names the cause and the fix, and answers `None` from
then on, so retrieval goes on with lexical and taxonomy ranking. A bad spec, on the
other hand, is an error at once (a typo should not pass as a fallback).

Vectors are cached by (model, text) in a bounded least-recently-used cache shared by
every retriever that uses the client: a library's conditions are sent once per run,
and a changed condition (a new insight version) is the only one embedded again. The
conditions' vectors (`persist=True`, never problem statements) also go to a vector
file that outlives the run (`nl2opt.library.vector_file`), for clients made from a spec.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from nl2opt.library.vector_file import VectorFile, default_vector_path
from nl2opt.llm.types import LLMError

SPEC_EXAMPLE = "openai:BAAI/bge-small-en-v1.5@http://localhost:8001/v1"
SERVE_EXAMPLE = "e.g. `vllm serve BAAI/bge-small-en-v1.5 --task embed --port 8001`"
SERVE_HINT = f"serve an embedding model there ({SERVE_EXAMPLE}), or drop --embeddings"
FALLBACK = ("Retrieval goes on with lexical and taxonomy ranking only (no dense ranking "
            "for the rest of this run).")


class EmbeddingError(LLMError):
    """The embedding endpoint failed or answered something unusable."""


class EmbeddingWarning(UserWarning):
    """Dense ranking was switched off; retrieval went on without it."""


def parse_embedding_spec(spec: str) -> tuple[str, str]:
    """(model, base_url) from ``openai:MODEL@URL``."""
    scheme, _, rest = spec.strip().partition(":")
    model, at, base_url = rest.rpartition("@")
    if scheme != "openai" or not at or not model or not base_url.startswith("http"):
        raise LLMError(f"bad embedding spec {spec!r}",
                       hint=f"use openai:MODEL@http://host:port/v1, e.g. {SPEC_EXAMPLE}")
    return model, base_url


def read_vectors(body: Any, count: int, source: str = "the embedding server") -> np.ndarray:
    """Normalised vectors, in input order, from an embeddings response body."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != count:
        found = f"{len(data)} vectors" if isinstance(data, list) else "no embeddings"
        raise EmbeddingError(f"{source} answered {found} for {count} texts: it does not "
                             "look like an embeddings endpoint", hint=SERVE_HINT)
    try:
        ordered = sorted(enumerate(data), key=lambda pair: pair[1].get("index", pair[0]))
        matrix = np.asarray([item["embedding"] for _, item in ordered], dtype=np.float32)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise EmbeddingError(f"{source} answered something other than lists of numbers "
                             f"({error})", hint=SERVE_HINT) from error
    if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
        raise EmbeddingError(f"{source} answered vectors of unequal length, empty or not "
                             "finite", hint=SERVE_HINT)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def dimension_mismatch(model: str, before: int, now: int) -> EmbeddingError:
    return EmbeddingError(
        f"the embedding model {model!r} now answers {now}-dimensional vectors, but the "
        f"vectors embedded earlier have {before}: the model behind the endpoint changed",
        hint="the earlier vectors were dropped, so the next run embeds afresh; serve one "
             "model per endpoint name")


class VectorCache:
    """Vectors by text; the least recently used go once `max_bytes` is exceeded."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, text: str) -> bool:
        return text in self._vectors

    @property
    def dimension(self) -> int | None:
        """The vectors' length (all cached vectors share it), None when empty."""
        return next(iter(self._vectors.values())).shape[0] if self._vectors else None

    def get(self, text: str) -> np.ndarray:
        self._vectors.move_to_end(text)
        return self._vectors[text]

    def put(self, text: str, vector: np.ndarray) -> None:
        if text in self._vectors:
            self.bytes -= self._vectors.pop(text).nbytes
        self._vectors[text] = vector
        self.bytes += vector.nbytes
        while self.bytes > self.max_bytes and len(self._vectors) > 1:
            self.bytes -= self._vectors.popitem(last=False)[1].nbytes

    def clear(self) -> None:
        self._vectors.clear()
        self.bytes = 0


def warn_python(message: str) -> None:
    warnings.warn(message, EmbeddingWarning, stacklevel=4)


class EmbeddingClient:
    """Embeds texts through the openai SDK (imported on first use); see the module doc.

    `warn` receives the one message sent when dense ranking is switched off (default:
    a Python `EmbeddingWarning`; the CLI prints it, the app shows it)."""

    def __init__(self, model: str, base_url: str, batch_size: int = 256,
                 timeout: float = 30.0, cache_bytes: int = 64 << 20,
                 warn: Callable[[str], None] | None = None,
                 vector_file: VectorFile | None = None) -> None:
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self.timeout = timeout
        self.warn = warn or warn_python
        self.failure: EmbeddingError | None = None
        self.cache = VectorCache(cache_bytes)
        self.vector_file = vector_file  # where `persist=True` vectors outlive the run
        self._client = None

    @classmethod
    def from_spec(cls, spec: str, warn: Callable[[str], None] | None = None
                  ) -> EmbeddingClient:
        """A client that keeps the library's vectors in the user's vector file (see
        `nl2opt.library.vector_file`; env NL2OPT_EMBEDDING_CACHE=off: memory only)."""
        model, base_url = parse_embedding_spec(spec)
        path = default_vector_path()
        return cls(model, base_url, warn=warn,
                   vector_file=VectorFile(path) if path is not None else None)

    @property
    def endpoint(self) -> str:
        return f"{self.model}@{self.base_url}"

    @property
    def spec(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def embed(self, texts: list[str], persist: bool = False) -> np.ndarray:
        """One normalised row per text; raises EmbeddingError. With `persist` (a library's
        conditions, not problem statements) the vector file is read and written too."""
        unique = list(dict.fromkeys(texts))
        known = {text: self.cache.get(text) for text in unique if text in self.cache}
        missing = [text for text in unique if text not in known]
        disk = self.vector_file if persist else None
        stored = disk.get_many(self.endpoint, missing) if disk is not None else {}
        fresh = self._fetch([text for text in missing if text not in stored])
        self._check_dimension(stored, fresh)
        if disk is not None and fresh:
            disk.put_many(self.endpoint, fresh)
        for text, vector in {**stored, **fresh}.items():
            self.cache.put(text, vector)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        known.update(stored)
        known.update(fresh)
        return np.stack([known[text] for text in texts])

    def _fetch(self, texts: list[str]) -> dict[str, np.ndarray]:
        fresh: dict[str, np.ndarray] = {}
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            fresh.update(zip(chunk, read_vectors(self._post(chunk), len(chunk),
                                                 f"the embedding server at {self.base_url}")))
        return fresh

    def try_embed(self, texts: list[str], persist: bool = False) -> np.ndarray | None:
        """`embed`, or None once the endpoint has failed (warned about once)."""
        if self.failure is not None:
            return None
        try:
            return self.embed(texts, persist)
        except EmbeddingError as error:
            self.fail(error)
            return None

    def fail(self, error: EmbeddingError) -> None:
        """Switch dense ranking off for the rest of the run, saying why."""
        self.failure = error
        self.cache.clear()
        self.warn(f"dense retrieval is off: {error}. {FALLBACK}")

    def _check_dimension(self, stored: dict[str, np.ndarray],
                         fresh: dict[str, np.ndarray]) -> None:
        """Fresh vectors must match those kept; else the model changed: the kept ones are
        dropped (from the vector file too), so the next run starts afresh."""
        cached = {self.cache.dimension} - {None}
        current = {vector.shape[0] for vector in fresh.values()} or cached
        earlier = {vector.shape[0] for vector in stored.values()} | cached
        dimensions = current | earlier
        if len(dimensions) > 1:
            if self.vector_file is not None:
                self.vector_file.drop(self.endpoint)
            raise dimension_mismatch(self.model, min(earlier - current, default=min(dimensions)),
                                     min(current - earlier, default=max(dimensions)))

    def _post(self, texts: list[str]) -> Any:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(base_url=self.base_url, timeout=self.timeout,
                                         api_key=os.environ.get("OPENAI_API_KEY", "EMPTY"),
                                         max_retries=1)
        try:
            # The raw reply: the SDK's typed objects cost seconds per thousand vectors.
            reply = self._client.embeddings.with_raw_response.create(
                model=self.model, input=texts, encoding_format="float")
        except openai.APITimeoutError as error:
            raise EmbeddingError(f"the embedding server at {self.base_url} did not answer "
                                 f"{len(texts)} text(s) within {self.timeout:g} s, twice",
                                 retryable=True, hint="check that it is not overloaded, or "
                                 "drop --embeddings") from error
        except openai.APIConnectionError as error:
            raise EmbeddingError(f"cannot reach the embedding server at {self.base_url} "
                                 f"({error})", retryable=True,
                                 hint=f"start it or fix the URL ({SERVE_EXAMPLE}), or drop "
                                      "--embeddings") from error
        except openai.APIStatusError as error:
            raise EmbeddingError(f"the embedding server at {self.base_url} refused "
                                 f"{self.model!r} with HTTP {error.status_code}: "
                                 f"{error.message}",
                                 hint="set env OPENAI_API_KEY to its key"
                                 if error.status_code in (401, 403) else SERVE_HINT) from error
        except openai.APIError as error:
            raise EmbeddingError(f"the embedding server at {self.base_url} failed: {error}",
                                 hint=SERVE_HINT) from error
        try:
            return reply.http_response.json()
        except ValueError as error:
            raise EmbeddingError(f"the embedding server at {self.base_url} answered something "
                                 "other than JSON", hint=SERVE_HINT) from error
