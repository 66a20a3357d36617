"""Offline batches in the OpenAI Batch API JSONL format (what `vllm run-batch` reads).

A `BatchBackend` never calls a model. It answers from the responses already
in ``<dir>/responses*.jsonl``; the requests it cannot answer are queued in
``<dir>/requests.jsonl`` and it raises `BatchPending`, saying how to run them::

    vllm run-batch -i DIR/requests.jsonl -o DIR/responses.jsonl --model MODEL

``requests.jsonl`` only ever holds requests without an answer, and each
command writes a new output file (``responses.jsonl``, then
``responses-2.jsonl``, ...), so nothing answered is asked again and no answer
is overwritten. When a request is answered in several files the first file
wins (numeric order), so a resumed pipeline sees the answers it saw before.
Requests and answers are matched by `custom_id` (= ``request.key(model)``).

Request line:  {"custom_id", "method": "POST", "url": "/v1/chat/completions",
                "body": <the same body OpenAIBackend sends>}
Response line: {"id", "custom_id", "response": {"status_code", "request_id",
                "body": <chat completion>}, "error": null | {...}}
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from nl2opt.llm.jsonl import json_lines
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.openai_backend import build_chat_body
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage

CHAT_URL = "/v1/chat/completions"


class BatchPending(LLMError):
    """Some requests have no response yet; they were queued for an offline run.

    `answers` holds, per request asked, the answers that exist (an `LLMError`
    where the batch run failed the request, None where it waits), so a caller
    can go on with the answered ones; `command`
    is the shell command that produces the missing answers.
    """

    def __init__(self, message: str, *, hint: str = "", pending: int = 0,
                 requests_path: Path | None = None, command: str = "",
                 answers: list[list[LLMResponse] | LLMError | None] | None = None
                 ) -> None:
        self.pending = pending
        self.requests_path = requests_path
        self.command = command
        self.answers = answers
        super().__init__(message, retryable=False, hint=hint)


def batch_request_line(request: LLMRequest, model: str, *, structured: bool = True) -> dict:
    """One Batch API request line for `request`."""
    return {"custom_id": request.key(model), "method": "POST", "url": CHAT_URL,
            "body": build_chat_body(request, model, structured=structured)}


def queue_batch_requests(path: str | Path, requests: list[LLMRequest], model: str,
                         answered: set[str], *, structured: bool = True) -> int:
    """Rewrite `path` to hold exactly the requests that still lack an answer: the queued
    ones whose custom_id is not in `answered`, then those of `requests` not yet queued.
    Returns how many were added. The file is replaced atomically (a kill never leaves half a line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    queued = [record for _, record in json_lines(path)
              if str(record.get("custom_id")) not in answered]
    seen = {str(record.get("custom_id")) for record in queued}
    added = 0
    for request in requests:
        line = batch_request_line(request, model, structured=structured)
        if line["custom_id"] not in seen and line["custom_id"] not in answered:
            seen.add(line["custom_id"])
            queued.append(line)
            added += 1
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n"
                                 for line in queued), encoding="utf-8")
    os.replace(temporary, path)
    return added


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
        self._parsed: dict[Path, tuple[tuple[int, int], tuple[dict, dict]]] = {}

    @property
    def requests_path(self) -> Path:
        return self.directory / "requests.jsonl"

    @property
    def responses_path(self) -> Path:
        """Where the next batch run writes: a file no earlier run wrote."""
        taken = {_response_number(path) for path in self.directory.glob("responses*.jsonl")}
        number = next(n for n in range(1, len(taken) + 2) if n not in taken)
        return self.directory / ("responses.jsonl" if number == 1
                                 else f"responses-{number}.jsonl")

    def response_files(self) -> list[Path]:
        """The output files of earlier batch runs, oldest first."""
        return sorted(self.directory.glob("responses*.jsonl"),
                      key=lambda path: (_response_number(path) or 1 << 30, path.name))

    def run_command(self) -> str:
        """The shell command that answers the queued requests."""
        return (f"vllm run-batch -i {self.requests_path} -o {self.responses_path} "
                f"--model {self.model}")

    def _results(self) -> tuple[dict[str, list[LLMResponse]], dict[str, str]]:
        answers: dict[str, list[LLMResponse]] = {}
        errors: dict[str, str] = {}
        for path in self.response_files():
            found, failed = self._read(path)
            answers.update({k: v for k, v in found.items() if k not in answers})
            errors.update({k: v for k, v in failed.items() if k not in answers})
        return answers, errors

    def _read(self, path: Path) -> tuple[dict, dict]:
        """A file's answers, parsed once per version of the file (a run asks many times)."""
        status = path.stat()
        version = (status.st_mtime_ns, status.st_size)
        cached = self._parsed.get(path)
        if cached is None or cached[0] != version:
            cached = (version, read_batch_results(path))
            self._parsed[path] = cached
        return cached[1]

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The recorded answers, or `BatchPending` after queueing the missing ones.

        A request the batch run failed raises `LLMError`; when others are missing too,
        it comes as that request's entry in `BatchPending.answers`.
        """
        answers, errors = self._results()
        keys = [request.key(self.model) for request in requests]
        for request, key in zip(requests, keys):
            if key in answers and len(answers[key]) < request.n:
                raise LLMError(f"the batch answer {key} has {len(answers[key])} samples, "
                               f"{request.n} were asked",
                               hint="the server ignored `n`; use `vllm run-batch`")
        failed = {key: self._failure(key, errors[key]) for key in keys
                  if key not in answers and key in errors}
        missing = [request for request, key in zip(requests, keys)
                   if key not in answers and key not in failed]
        if missing:
            raise self._pending(requests, keys, missing, answers, errors, failed)
        if failed:
            raise next(iter(failed.values()))
        return [answers[key][:request.n] for request, key in zip(requests, keys)]

    def _failure(self, key: str, message: str) -> LLMError:
        return LLMError(f"the batch run failed request {key}: {message}",
                        hint=f"fix the cause, delete its line from the {self.directory}/"
                             "responses*.jsonl file that holds it and start again: the "
                             "request is then queued anew")

    def _pending(self, requests: list[LLMRequest], keys: list[str],
                 missing: list[LLMRequest], answers: dict[str, list[LLMResponse]],
                 errors: dict[str, str], failed: dict[str, LLMError]) -> BatchPending:
        settled = set(answers) | set(errors)
        added = queue_batch_requests(self.requests_path, missing, self.model, settled,
                                     structured=self.structured)
        command = self.run_command()
        return BatchPending(
            f"{len(missing)} of {len(requests)} LLM requests have no answer yet "
            f"({added} newly queued in {self.requests_path})",
            hint=f"run `{command}` (or any OpenAI-Batch-compatible runner) and start again: "
                 "answered requests are reused",
            pending=len(missing), requests_path=self.requests_path, command=command,
            answers=[answers[key][:request.n] if key in answers else failed.get(key)
                     for request, key in zip(requests, keys)])


def _response_number(path: Path) -> int | None:
    """1 for responses.jsonl, k for responses-k.jsonl; None for other names."""
    if path.name == "responses.jsonl":
        return 1
    found = re.fullmatch(r"responses-(\d+)\.jsonl", path.name)
    return int(found.group(1)) if found else None
