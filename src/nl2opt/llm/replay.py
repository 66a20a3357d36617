"""Record LLM answers to JSONL and replay them exactly: reproducible runs and tests.

A record is one JSON line::

    {"key": request.key(model), "model": model,
     "request": <the LLMRequest, dumped, for humans>,
     "responses": [<LLMResponse dumps>]}

`ReplayBackend` answers only requests whose key is in the file (keys include
the model and every sampling parameter; there is deliberately no fuzzy
matching). `RecordingBackend` wraps any backend and appends a record per
answered request, flushing after each line so a killed run loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nl2opt.llm.jsonl import json_lines
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, LLMResponse


def make_record(request: LLMRequest, model: str, responses: list[LLMResponse]) -> dict[str, Any]:
    """The JSONL record of one answered request."""
    return {"key": request.key(model), "model": model,
            "request": request.model_dump(mode="json"),
            "responses": [response.model_dump(mode="json") for response in responses]}


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a recording file, in order."""
    path = Path(path)
    records = []
    for number, record in json_lines(path):
        if "key" not in record:
            raise LLMError(f"{path}:{number} is not a recording record (no 'key')")
        records.append(record)
    return records


def _first_user_line(request: LLMRequest) -> str:
    for message in request.messages:
        if message.role == "user":
            for line in message.content.splitlines():
                if line.strip():
                    return line.strip()[:160]
    return "(no user message)"


class ReplayBackend:
    """Serves recorded responses for exactly the recorded requests."""

    name = "replay"

    def __init__(self, path: str | Path, model: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise LLMError(f"no LLM recording at {self.path}",
                           hint=f"record one with NL2OPT_LLM='record:{self.path}="
                                "openai:MODEL@URL' (or any other backend spec)")
        self._answers: dict[str, list[LLMResponse]] = {}
        models: list[str] = []
        for record in load_records(self.path):
            self._answers[record["key"]] = [LLMResponse.model_validate(r)
                                            for r in record.get("responses", [])]
            recorded_model = str(record.get("model", ""))
            if recorded_model not in models:
                models.append(recorded_model)
        # Keys include the model: look a request up under each recorded model.
        self._models = [model] if model is not None else models or [""]
        self.model = self._models[0]

    def __len__(self) -> int:
        return len(self._answers)

    def _lookup(self, request: LLMRequest) -> list[LLMResponse] | None:
        for model in self._models:
            found = self._answers.get(request.key(model))
            if found is not None:
                return found
        return None

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The recorded responses, in order; `LLMError` for any unrecorded request."""
        answers = []
        for request in requests:
            found = self._lookup(request)
            if found is None:
                raise LLMError(
                    f"request {request.key(self.model)} (model {self.model!r}, "
                    f"first user line {_first_user_line(request)!r}) is not in the "
                    f"recording {self.path}",
                    hint="the prompt, schema, sampling or model changed since recording; "
                         f"record again with NL2OPT_LLM='record:{self.path}=<backend spec>'")
            if len(found) < request.n:
                raise LLMError(f"the recording has {len(found)} samples for request "
                               f"{request.key(self.model)}, {request.n} were asked",
                               hint="record again with the same n")
            answers.append(found[:request.n])
        return answers


class RecordingBackend:
    """Any backend, with every answered request appended to a JSONL recording."""

    def __init__(self, inner: LLMBackend, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.name = f"record({inner.name})"
        self.model = inner.model

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The inner backend's answers, recorded before they are returned."""
        answers = self.inner.generate(requests)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for request, responses in zip(requests, answers):
                record = make_record(request, self.inner.model, responses)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
        return answers
