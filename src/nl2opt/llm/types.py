"""Typed request and response at the LLM boundary, and the backend protocol.

Every provider adapter is a pair of pure functions (build the provider's
payload from an `LLMRequest`, parse its reply into `LLMResponse`s) plus a thin
call that does the I/O, as in outlines. Provider failures are translated into
`LLMError` with a `retryable` flag and a hint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from nl2opt.errors import Nl2OptError


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Sampling(BaseModel):
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 4096
    seed: int | None = None


class LLMRequest(BaseModel):
    """One chat request; `n` samples; `json_schema` asks for constrained JSON output."""

    messages: list[Message]
    json_schema: dict[str, Any] | None = None
    schema_name: str = "formulation"
    sampling: Sampling = Field(default_factory=Sampling)
    n: int = 1
    prompt_id: str = ""
    prompt_hash: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)

    def key(self, model: str = "") -> str:
        """A stable hash of everything that determines the answer (not metadata)."""
        payload = self.model_dump(mode="json", exclude={"metadata"})
        payload["model"] = model
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMResponse(BaseModel):
    """One sample of a reply. `parsed` holds the JSON object when one was found."""

    text: str
    parsed: dict[str, Any] | None = None
    finish_reason: str = ""
    usage: Usage = Field(default_factory=Usage)
    latency_seconds: float = 0.0
    model: str = ""


class LLMError(Nl2OptError):
    """A provider failure, translated. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str = "") -> None:
        self.retryable = retryable
        self.hint = hint
        super().__init__(f"{message}. {hint}".strip() if hint else message)


class LLMBackend(Protocol):
    """What the pipeline needs from any LLM."""

    name: str
    model: str

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """One list of `request.n` responses per request, in order."""
