"""Watching an OpenAI-compatible server write its answer: streamed chat completions.

`StreamingBackend` wraps an `OpenAIBackend` for one user at a time (the app):
a single one-sample request is sent with `"stream": true` and every piece of
text is passed to `on_text` (the text so far) as it arrives, so a person sees
the model being written instead of a spinner. The finished answer is the same
`LLMResponse` the wrapped backend would give. Anything else (several requests,
several samples), and any failure of the stream (a server that refuses
`stream_options`, a dropped connection), goes to the wrapped backend, with its
retries and error messages: streaming is a view, never a new way to fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.openai_backend import OpenAIBackend, build_chat_body
from nl2opt.llm.types import LLMRequest, LLMResponse, Usage

TextCallback = Callable[[str], None]


class StreamingBackend:
    """`OpenAIBackend.generate`, with single answers streamed to `on_text`."""

    def __init__(self, inner: OpenAIBackend, on_text: TextCallback) -> None:
        self.inner = inner
        self.on_text = on_text
        self.name = inner.name
        self.model = inner.model
        self.streamed = 0  # answers that arrived as a stream (the rest went to `inner`)

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        if len(requests) != 1 or requests[0].n != 1:
            return self.inner.generate(requests)
        try:
            response = self._stream(requests[0])
        except Exception:  # noqa: BLE001 - the wrapped backend retries and words the error
            return self.inner.generate(requests)
        self.streamed += 1
        return [[response]]

    def _stream(self, request: LLMRequest) -> LLMResponse:
        import httpx

        inner = self.inner
        body = {**build_chat_body(request, inner.model,
                                  structured=inner.structured
                                  and not inner.response_format_rejected,
                                  strict=inner.strict),
                **inner.extra_body, "stream": True, "stream_options": {"include_usage": True}}
        started = time.perf_counter()
        with httpx.stream("POST", f"{inner.base_url}/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {inner.api_key}"},
                          timeout=inner.timeout) as reply:
            reply.raise_for_status()
            text, finish, usage, model = read_stream(reply.iter_lines(), self.on_text)
        return LLMResponse(text=text, parsed=extract_json(text), finish_reason=finish,
                           usage=usage, latency_seconds=time.perf_counter() - started,
                           model=model or inner.model)


def read_stream(lines: Iterable[str], on_text: TextCallback
                ) -> tuple[str, str, Usage, str]:
    """(text, finish reason, usage, model) from server-sent chat-completion chunks."""
    parts: list[str] = []
    finish, usage, model = "", Usage(), ""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        model = chunk.get("model") or model
        if chunk.get("usage"):
            usage = Usage(prompt_tokens=int(chunk["usage"].get("prompt_tokens") or 0),
                          completion_tokens=int(chunk["usage"].get("completion_tokens") or 0))
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                parts.append(piece)
                on_text("".join(parts))
            finish = choice.get("finish_reason") or finish
    return "".join(parts), finish, usage, model
