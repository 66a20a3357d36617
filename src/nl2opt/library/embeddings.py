"""Dense embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (optional).

vLLM serves embedding models (`vllm serve BAAI/bge-base-en-v1.5 --task embed`), as do
Ollama and hosted APIs; nothing is downloaded at run time. Spec:
``openai:MODEL@http://host:port/v1`` (the LLM spec syntax). Vectors are
L2-normalised, so a dot product is the cosine similarity. Texts already
embedded are cached per client, so a library's conditions are sent once.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nl2opt.llm.types import LLMError


def parse_embedding_spec(spec: str) -> tuple[str, str]:
    """(model, base_url) from ``openai:MODEL@URL``."""
    scheme, _, rest = spec.partition(":")
    model, at, base_url = rest.rpartition("@")
    if scheme != "openai" or not at or not model or not base_url.startswith("http"):
        raise LLMError(f"bad embedding spec {spec!r}",
                       hint="use openai:MODEL@http://host:port/v1, e.g. "
                            "openai:BAAI/bge-base-en-v1.5@http://localhost:8001/v1")
    return model, base_url


def read_vectors(body: dict[str, Any], count: int) -> np.ndarray:
    """Normalised vectors, in input order, from an embeddings response body."""
    data = sorted(body.get("data") or [], key=lambda item: item.get("index", 0))
    if len(data) != count:
        raise LLMError(f"the embedding server returned {len(data)} vectors for {count} texts")
    matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class EmbeddingClient:
    """Embeds texts through the openai SDK (imported on first use)."""

    def __init__(self, model: str, base_url: str, batch_size: int = 256,
                 timeout: float = 60.0) -> None:
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self.timeout = timeout
        self._cache: dict[str, np.ndarray] = {}
        self._client = None

    @classmethod
    def from_spec(cls, spec: str) -> EmbeddingClient:
        return cls(*parse_embedding_spec(spec))

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised row per text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            self._cache.update(zip(chunk, read_vectors(self._post(chunk), len(chunk))))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def _post(self, texts: list[str]) -> dict[str, Any]:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(base_url=self.base_url, timeout=self.timeout,
                                         api_key=os.environ.get("OPENAI_API_KEY", "EMPTY"),
                                         max_retries=2)
        try:
            reply = self._client.embeddings.create(model=self.model, input=texts,
                                                   encoding_format="float")
        except openai.APIError as error:
            raise LLMError(f"the embedding server at {self.base_url} failed: {error}",
                           hint="check that it serves an embedding model "
                                f"({self.model}) at /v1/embeddings") from error
        return reply.model_dump()
