"""A real, local OpenAI-compatible HTTP server for tests (standard library only).

`ChatServer` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port)
in a background thread and speaks just enough of the OpenAI API for
OpenAI-compatible clients (the `openai` SDK, langchain-openai's `ChatOpenAI`):

- ``POST /v1/chat/completions`` answers with a chat-completion JSON built from
  the scripted replies (below);
- ``GET /v1/models`` lists the server's model;
- ``POST /v1/embeddings`` (when an ``embed`` function is given) answers with
  ``embed(text)`` for each input text.

Every request body the server receives is recorded in ``server.requests``
(parsed JSON, in arrival order) so tests can assert on the exact payload.

Scripted replies
----------------
``replies`` is either a list (consumed in order, one per chat request) or a
callable ``reply(body: dict) -> Reply``. Each reply may be:

- a ``str``: the assistant text, finish_reason "stop";
- a ``dict``: serialized to JSON text, finish_reason "stop";
- a ``Reply(...)``: full control: ``text`` (or ``texts`` for several choices),
  ``finish_reason`` (e.g. "length" for truncated output; ``finish_reasons``
  for one per choice), ``status`` (e.g. 429,
  500, 400 -> an OpenAI-style error body carrying ``error``), ``delay`` (seconds
  to sleep before answering, for timeouts), ``usage`` overrides;
- a callable ``fn(body) -> str | dict | Reply``, evaluated per request.

When the list runs out the server answers 500 "no scripted reply left", so a
test that sends more requests than it scripted fails loudly.

By default a reply with one text is repeated for every sample when the request
asks for ``n`` > 1 (pass ``texts=[...]`` for distinct samples).

Example::

    from llm_server import ChatServer, Reply

    with ChatServer([Reply(status=429), '{"ok": true}']) as server:
        backend = OpenAIBackend("test-model", base_url=server.base_url)
        ...
        assert server.requests[-1]["response_format"]["type"] == "json_schema"

The server stops and closes its socket on leaving the ``with`` block.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["ChatServer", "Reply", "chat_completion"]


@dataclass
class Reply:
    """One scripted answer of the test server (see the module docstring)."""

    text: str | None = None
    texts: list[str] | None = None
    finish_reason: str = "stop"
    finish_reasons: list[str] | None = None
    status: int = 200
    error: str = ""
    delay: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)


def chat_completion(texts: list[str], *, model: str, finish_reason: str = "stop",
                    usage: dict[str, int] | None = None, prompt_tokens: int = 11,
                    finish_reasons: list[str] | None = None) -> dict:
    """A chat-completion response body with one choice per text."""
    reasons = finish_reasons or [finish_reason] * len(texts)
    completion_tokens = sum(max(1, len(t) // 4) for t in texts)
    counted = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
               "total_tokens": prompt_tokens + completion_tokens}
    counted.update(usage or {})
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text},
             "finish_reason": reason, "logprobs": None}
            for i, (text, reason) in enumerate(zip(texts, reasons))
        ],
        "usage": counted,
    }


def _as_reply(item: Any, body: dict) -> Reply:
    if callable(item) and not isinstance(item, Reply):
        item = item(body)
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(text=item)
    if isinstance(item, dict):
        return Reply(text=json.dumps(item))
    raise TypeError(f"cannot turn {type(item).__name__} into a scripted reply")


def _error_body(status: int, message: str) -> dict:
    kinds = {400: "invalid_request_error", 401: "authentication_error",
             404: "not_found_error", 429: "rate_limit_error"}
    return {"error": {"message": message, "type": kinds.get(status, "server_error"),
                      "param": None, "code": None}, "object": "error"}


class ChatServer:
    """A scripted OpenAI-compatible server on 127.0.0.1; use as a context manager."""

    def __init__(self, replies: list | Callable[[dict], Any] | None = None,
                 model: str = "test-model",
                 embed: Callable[[str], list[float]] | None = None) -> None:
        self.model = model
        self.embed = embed
        self.requests: list[dict] = []
        self.embedding_requests: list[dict] = []
        self._replies = replies if callable(replies) else list(replies or [])
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> "ChatServer":
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this server, e.g. http://127.0.0.1:PORT/v1."""
        assert self._httpd is not None, "use ChatServer as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def add(self, *replies: Any) -> None:
        """Append scripted replies (list mode only)."""
        assert isinstance(self._replies, list), "add() needs list mode"
        with self._lock:
            self._replies.extend(replies)

    # -- answering -----------------------------------------------------------
    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            if callable(self._replies):
                item: Any = self._replies
            elif self._replies:
                item = self._replies.pop(0)
            else:
                return Reply(status=500, error="no scripted reply left")
        return _as_reply(item, body)

    def answer(self, body: dict) -> tuple[int, dict, float]:
        """Status, JSON body and delay for one chat-completion request."""
        reply = self._next_reply(body)
        if reply.status != 200:
            message = reply.error or f"scripted error {reply.status}"
            return reply.status, _error_body(reply.status, message), reply.delay
        n = int(body.get("n") or 1)
        texts = reply.texts if reply.texts is not None else [reply.text or ""] * n
        payload = chat_completion(texts, model=body.get("model", self.model),
                                  finish_reason=reply.finish_reason, usage=reply.usage,
                                  finish_reasons=reply.finish_reasons)
        return 200, payload, reply.delay


def stream_chunks(payload: dict, piece: int = 16) -> list[dict]:
    """A chat-completion body as streaming chunks (first choice only)."""
    choice = payload["choices"][0]
    text = choice["message"]["content"] or ""
    base = {"id": payload["id"], "object": "chat.completion.chunk", "model": payload["model"]}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"content": text[k:k + piece]},
                                    "finish_reason": None}]}
              for k in range(0, len(text), piece)]
    chunks.append({**base, "choices": [{"index": 0, "delta": {},
                                        "finish_reason": choice["finish_reason"]}]})
    chunks.append({**base, "choices": [], "usage": payload["usage"]})
    return chunks


def _embeddings(server: ChatServer, body: dict) -> tuple[int, dict]:
    """Status and body for an embeddings request: ``embed(text)`` per input text; a
    ``Reply`` with an error status from ``embed`` answers that error instead."""
    server.embedding_requests.append(body)
    texts = body.get("input") or []
    texts = [texts] if isinstance(texts, str) else texts
    vectors = [server.embed(text) for text in texts]
    failure = next((v for v in vectors if isinstance(v, Reply) and v.status != 200), None)
    if failure is not None:
        return failure.status, _error_body(failure.status, failure.error or "scripted error")
    return 200, {"object": "list", "model": body.get("model", server.model),
                 "data": [{"object": "embedding", "index": k, "embedding": vector}
                          for k, vector in enumerate(vectors)],
                 "usage": {"prompt_tokens": 0, "total_tokens": 0}}


def _make_handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to answer

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": 0,
                     "owned_by": "test"}]})
            else:
                self._send(404, _error_body(404, f"no route {self.path}"))

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") == "/v1/embeddings" and server.embed is not None:
                self._send(*_embeddings(server, json.loads(raw or b"{}")))
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, _error_body(404, f"no route {self.path}"))
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error_body(400, "request body is not JSON"))
                return
            status, payload, delay = server.answer(body)
            if delay:
                time.sleep(delay)
            if status == 200 and body.get("stream"):
                self._send_stream(payload)
            else:
                self._send(status, payload)

        def _send_stream(self, payload: dict) -> None:
            """The answer as server-sent events: content in small pieces, then the finish
            reason and the usage, then [DONE] (as OpenAI-compatible servers stream)."""
            data = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in stream_chunks(payload))
            data += "data: [DONE]\n\n"
            encoded = data.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

    return Handler
