"""The LLM boundary of a synthesis run: an answer cache, and asking without stopping
at the first request an offline batch has not answered yet.

`AnswerCache` wraps any backend and keeps every answer in OUT/llm_cache.jsonl
(the recording format of `nl2opt.llm.replay`), so a killed or resumed run never
asks the same request twice, whatever the backend. `AnswerCache.ask` returns,
per request, the responses, an `LLMError` (that request failed for good), or
None: the request went to a `batch:` backend's requests.jsonl and waits for an
offline run; `pending` then says what to run. As a backend (`generate`) it answers
the way a batch backend does, so the evaluation runner's stages take it directly.
"""

from __future__ import annotations

import json
from pathlib import Path

from nl2opt.errors import Nl2OptError
from nl2opt.llm.batch import BatchPending
from nl2opt.llm.replay import make_record
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, LLMResponse
from nl2opt.synthesis.records import JsonlLog

CACHE_FILE = "llm_cache.jsonl"
Answer = list[LLMResponse] | LLMError | None


class SynthPending(Nl2OptError):
    """The run stopped because an offline batch has requests to answer."""

    def __init__(self, pending: BatchPending, waiting: int) -> None:
        self.pending = pending
        self.waiting = waiting
        super().__init__(f"{waiting} problem(s) wait for LLM answers: {pending}")


class AnswerCache:
    """A backend whose answers are kept in a JSONL cache (see the module docstring)."""

    def __init__(self, inner: LLMBackend, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.path = Path(path)
        self.answers: dict[str, list[LLMResponse]] = _load(self.path)
        self.pending: BatchPending | None = None

    def key(self, request: LLMRequest) -> str:
        return request.key(self.model)

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The backend protocol, as a batch backend speaks it: every answer, or, when a
        request waits for an offline batch or failed for good, a `BatchPending` holding
        per request its responses, its LLMError or None (so the evaluation runner's
        stages go on with the answered ones and never ask a failed request again)."""
        answers = self.ask(requests)
        if all(isinstance(answer, list) for answer in answers):
            return answers  # type: ignore[return-value]
        waiting = sum(answer is None for answer in answers)
        known = self.pending if waiting and self.pending is not None else None
        raise BatchPending(str(known) if known else "some requests failed",
                           pending=waiting, answers=answers,
                           requests_path=known.requests_path if known else None,
                           command=known.command if known else "")

    def ask(self, requests: list[LLMRequest]) -> list[Answer]:
        """Responses, an LLMError, or None (queued for an offline batch) per request."""
        missing = list({self.key(r): r for r in requests
                        if self.key(r) not in self.answers}.values())
        failed: dict[str, LLMError] = {}
        if missing:
            try:
                self._store(missing, self.inner.generate(missing))
            except LLMError as error:
                if error.retryable and not isinstance(error, BatchPending):
                    raise
                failed = self._one_by_one(missing)
        return [self.answers.get(self.key(r)) or failed.get(self.key(r)) for r in requests]

    def _one_by_one(self, requests: list[LLMRequest]) -> dict[str, LLMError]:
        """After a failed batch call: ask each request alone so one failure (or one
        unanswered batch request) does not hold back the others."""
        failed = {}
        for request in requests:
            try:
                self._store([request], self.inner.generate([request]))
            except BatchPending as pending:
                self.pending = pending
            except LLMError as error:
                if error.retryable:
                    raise
                failed[self.key(request)] = error
        return failed

    def _store(self, requests: list[LLMRequest], answers: list[list[LLMResponse]]) -> None:
        with JsonlLog(self.path) as log:
            for request, responses in zip(requests, answers):
                self.answers[self.key(request)] = responses
                log.append_json(make_record(request, self.model, responses))


def _load(path: Path) -> dict[str, list[LLMResponse]]:
    if not path.exists():
        return {}
    data = path.read_bytes()
    complete = data[:data.rfind(b"\n") + 1].decode("utf-8")  # a torn tail is ignored
    answers = {}
    for line in complete.splitlines():
        if line.strip():
            record = json.loads(line)
            answers[record["key"]] = [LLMResponse.model_validate(r)
                                      for r in record["responses"]]
    return answers

