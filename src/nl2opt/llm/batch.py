"""Offline batches in the OpenAI Batch API JSONL format (what `vllm run-batch` reads).

A `BatchBackend` never calls a model. It answers from the responses already
in ``<dir>/responses.jsonl`` (and any other ``responses*.jsonl`` there); the
requests it cannot answer are appended to ``<dir>/requests.jsonl`` and it
raises `BatchPending`, saying how to run them::

    vllm run-batch -i DIR/requests.jsonl -o DIR/responses.jsonl --model MODEL

Run the same command again when the pipeline resumes: the requests already
answered are found by their `custom_id` (= ``request.key(model)``), so a run
picks up where it stopped once the responses arrive.

Request line:  {"custom_id", "method": "POST", "url": "/v1/chat/completions",
                "body": <the same body OpenAIBackend sends>}
Response line: {"id", "custom_id", "response": {"status_code", "request_id",
                "body": <chat completion>}, "error": null | {...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.openai_backend import build_chat_body
from nl2opt.llm.jsonl import json_lines
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage

CHAT_URL = "/v1/chat/completions"


class BatchPending(LLMError):
    """Some requests have no response yet; they were written for an offline run."""

    def __init__(self, message: str, *, hint: str = "", pending: int = 0,
                 requests_path: Path | None = None) -> None:
        self.pending = pending
        self.requests_path = requests_path
        super().__init__(message, retryable=False, hint=hint)


def batch_request_line(request: LLMRequest, model: str, *, structured: bool = True) -> dict:
    """One Batch API request line for `request`."""
    return {"custom_id": request.key(model), "method": "POST", "url": CHAT_URL,
            "body": build_chat_body(request, model, structured=structured)}


def written_custom_ids(path: str | Path) -> set[str]:
    """The custom_ids already in a batch request file."""
    return {str(record.get("custom_id")) for _, record in json_lines(Path(path))}


def write_batch_requests(path: str | Path, requests: list[LLMRequest], model: str,
                         *, structured: bool = True) -> int:
    """Append the requests not yet in `path`; return how many were appended."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = written_custom_ids(path)
    appended = 0
    with path.open("a", encoding="utf-8") as handle:
        for request in requests:
            line = batch_request_line(request, model, structured=structured)
            if line["custom_id"] in seen:
                continue
            seen.add(line["custom_id"])
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            appended += 1
        handle.flush()
    return appended


def parse_chat_completion(body: dict[str, Any], *, model: str = "") -> list[LLMResponse]:
    """`LLMResponse`s (one per choice, by index) from a chat-completion JSON body.

    Usage counts once, on the first choice (the body has one total).
    """
    usage = body.get("usage") or {}
    total = Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                  completion_tokens=int(usage.get("completion_tokens") or 0))
    choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    responses = []
    for position, choice in enumerate(choices):
        text = (choice.get("message") or {}).get("content") or ""
        responses.append(LLMResponse(
            text=text, parsed=extract_json(text),
            finish_reason=str(choice.get("finish_reason") or ""),
            usage=total if position == 0 else Usage(),
            model=str(body.get("model") or model)))
    return responses


def read_batch_results(path: str | Path) -> tuple[dict[str, list[LLMResponse]], dict[str, str]]:
    """Answers and errors (by custom_id) in a Batch API output file; later lines win."""
    answers: dict[str, list[LLMResponse]] = {}
    errors: dict[str, str] = {}
    for _, record in json_lines(Path(path)):
        custom_id = str(record.get("custom_id"))
        response = record.get("response") or {}
        status = int(response.get("status_code") or 0)
        if record.get("error") or status != 200:
            errors[custom_id] = _describe_error(record.get("error"), response)
            continue
        answers[custom_id] = parse_chat_completion(response.get("body") or {})
        errors.pop(custom_id, None)
    return answers, errors


def read_batch_responses(path: str | Path) -> dict[str, list[LLMResponse]]:
    """The successful answers in a Batch API output file, by custom_id."""
    return read_batch_results(path)[0]


def _describe_error(error: Any, response: dict) -> str:
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if error:
        return str(error)
    body = response.get("body") or {}
    inner = body.get("error") if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else body
    return f"status {response.get('status_code')}: {message}"


class BatchBackend:
    """Answers from ``<dir>/responses*.jsonl``; queues the rest in ``requests.jsonl``."""

    name = "batch"

    def __init__(self, directory: str | Path, model: str, *, structured: bool = True) -> None:
        self.directory = Path(directory)
        self.model = model
        self.structured = structured

    @property
    def requests_path(self) -> Path:
        return self.directory / "requests.jsonl"

    @property
    def responses_path(self) -> Path:
        return self.directory / "responses.jsonl"

    def run_command(self) -> str:
        """The shell command that answers the queued requests."""
        return (f"vllm run-batch -i {self.requests_path} -o {self.responses_path} "
                f"--model {self.model}")

    def _results(self) -> tuple[dict[str, list[LLMResponse]], dict[str, str]]:
        answers: dict[str, list[LLMResponse]] = {}
        errors: dict[str, str] = {}
        for path in sorted(self.directory.glob("responses*.jsonl")):
            found, failed = read_batch_results(path)
            answers.update(found)
            errors.update({k: v for k, v in failed.items() if k not in answers})
        return answers, errors

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The recorded answers, or `BatchPending` after queueing the missing ones."""
        answers, errors = self._results()
        keys = [request.key(self.model) for request in requests]
        for request, key in zip(requests, keys):
            if key not in answers and key in errors:
                raise LLMError(f"the batch run failed request {key}: {errors[key]}",
                               hint=f"fix the cause, remove its line from "
                                    f"{self.responses_path} and run `{self.run_command()}` "
                                    "again")
            if key in answers and len(answers[key]) < request.n:
                raise LLMError(f"the batch answer {key} has {len(answers[key])} samples, "
                               f"{request.n} were asked",
                               hint="the server ignored `n`; use `vllm run-batch`")
        missing = [request for request, key in zip(requests, keys) if key not in answers]
        if missing:
            appended = write_batch_requests(self.requests_path, missing, self.model,
                                            structured=self.structured)
            raise BatchPending(
                f"{len(missing)} of {len(requests)} LLM requests have no answer yet "
                f"({appended} newly written to {self.requests_path})",
                hint=f"run `{self.run_command()}` (or any OpenAI-Batch-compatible runner) "
                     "and start again: answered requests are reused",
                pending=len(missing), requests_path=self.requests_path)
        return [answers[key][:request.n] for request, key in zip(requests, keys)]
