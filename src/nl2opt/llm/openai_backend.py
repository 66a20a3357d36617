"""Any OpenAI-compatible chat server: `vllm serve`, Ollama, llama.cpp, hosted APIs.

Two pure functions do the provider work: `build_chat_kwargs` turns an
`LLMRequest` into the exact chat-completion parameters, `parse_chat_result`
turns langchain's `LLMResult` into `LLMResponse`s. `OpenAIBackend` is the thin
I/O around them: langchain-openai's `ChatOpenAI` (with `max_retries=0`; retries
are ours), requests run concurrently under a semaphore, exponential backoff
with jitter on 429/5xx/timeouts/connection errors, and openai exceptions
translated into `LLMError`s that say what to do.

Structured output is sent as ``response_format = {"type": "json_schema",
"json_schema": {"name", "schema", "strict"}}``: vLLM's OpenAI server turns it
into grammar-constrained decoding (xgrammar/guidance), and Ollama (>= 0.5)
reads ``json_schema.schema`` into llama.cpp's grammar. Servers that reject it
(HTTP 400 mentioning response_format/json_schema) get one fallback to plain
text + `extract_json`, remembered for the backend instance. The parameters
travel in the request body as given (``extra_body``) so that the body is
exactly what `build_chat_body` (and the batch file) holds; in particular
``max_tokens`` stays ``max_tokens``, the field Ollama and llama.cpp read
(langchain would rename it to ``max_completion_tokens``).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage

T = TypeVar("T")
_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_SCHEMA_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


# -- pure: request -> payload ------------------------------------------------

def response_format_for(request: LLMRequest, *, strict: bool = False) -> dict[str, Any] | None:
    """The OpenAI `response_format` asking for JSON that follows the request's schema."""
    if request.json_schema is None:
        return None
    name = _SCHEMA_NAME_CHARS.sub("_", request.schema_name or "output")[:64] or "output"
    return {"type": "json_schema",
            "json_schema": {"name": name, "schema": request.json_schema, "strict": strict}}


def build_chat_kwargs(request: LLMRequest, *, structured: bool = True,
                      strict: bool = False) -> dict[str, Any]:
    """The chat-completion parameters (all but model and messages) for `request`.

    `n` is only sent when more than one sample is wanted: llama.cpp's server
    rejects any `n` other than 1. `strict` is OpenAI's flag for guaranteed
    adherence (hosted OpenAI then requires every property to be required);
    vLLM and Ollama constrain decoding to the schema either way.
    """
    sampling = request.sampling
    kwargs: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                              "max_tokens": sampling.max_tokens}
    if sampling.seed is not None:
        kwargs["seed"] = sampling.seed
    if request.n > 1:
        kwargs["n"] = request.n
    if structured:
        response_format = response_format_for(request, strict=strict)
        if response_format is not None:
            kwargs["response_format"] = response_format
    return kwargs


def build_chat_body(request: LLMRequest, model: str, *, structured: bool = True,
                    strict: bool = False) -> dict[str, Any]:
    """The full /v1/chat/completions JSON body (used by the batch file too)."""
    return {"model": model,
            "messages": [message.model_dump() for message in request.messages],
            **build_chat_kwargs(request, structured=structured, strict=strict)}


# -- pure: langchain result -> responses -------------------------------------

def parse_chat_result(result: Any, *, model: str = "",
                      latency_seconds: float = 0.0) -> list[LLMResponse]:
    """`LLMResponse`s from a langchain `LLMResult` of one prompt (one per choice).

    The call's token usage goes to the first sample (the server reports one
    total for all `n` choices), so summing over samples gives the call's usage.
    """
    generations = result.generations[0] if result.generations else []
    llm_output = result.llm_output or {}
    usage = _usage_from(llm_output.get("token_usage") or {})
    model_name = llm_output.get("model_name") or model
    responses = []
    for index, generation in enumerate(generations):
        text = generation.text or ""
        info = generation.generation_info or {}
        responses.append(LLMResponse(
            text=text, parsed=extract_json(text),
            finish_reason=str(info.get("finish_reason") or ""),
            usage=usage if index == 0 else Usage(),
            latency_seconds=latency_seconds, model=model_name))
    return responses


def _usage_from(token_usage: dict[str, Any]) -> Usage:
    return Usage(prompt_tokens=int(token_usage.get("prompt_tokens") or 0),
                 completion_tokens=int(token_usage.get("completion_tokens") or 0))


# -- pure: errors ------------------------------------------------------------

def is_response_format_rejection(exc: BaseException) -> bool:
    """Whether the server refused the request because of `response_format`."""
    import openai

    if not isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return False
    text = str(exc).lower()
    return any(word in text for word in ("response_format", "json_schema", "response format"))


def translate_error(exc: BaseException, *, base_url: str, model: str) -> LLMError:
    """An `LLMError` (retryable or not, with a hint) for a failed chat call."""
    import openai

    if isinstance(exc, LLMError):
        return exc
    start = f"start it with `vllm serve {model}` (or `ollama serve`)"
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"the LLM server at {base_url} did not answer in time", retryable=True,
                        hint="raise the timeout or lower max_tokens/concurrency")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot connect to the LLM server at {base_url}", retryable=True,
                        hint=f"is the server running at {base_url}? {start}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _error_detail(exc)
        if status in _RETRYABLE_STATUS or status >= 500:
            return LLMError(f"the LLM server at {base_url} answered {status}: {detail}",
                            retryable=True, hint="it is busy or failing; retrying may help")
        hints = {
            401: "check the API key (env OPENAI_API_KEY); local servers accept 'EMPTY'",
            403: "the API key may not access this model",
            404: f"is model {model!r} served there? list models at {base_url}/models; "
                 "the base URL usually ends with /v1",
        }
        hint = hints.get(status, "the request was refused; fix it before retrying "
                                 "(too long a prompt? unsupported parameter?)")
        return LLMError(f"the LLM server at {base_url} refused the request ({status}): {detail}",
                        retryable=False, hint=hint)
    return LLMError(f"the call to {base_url} failed: {type(exc).__name__}: {exc}",
                    retryable=False, hint=f"is it an OpenAI-compatible server? {start}")


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def backoff_seconds(attempt: int, *, base: float, cap: float,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter for retry number `attempt` (0-based)."""
    ceiling = min(cap, base * (2 ** attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    # Inside Jupyter/Streamlit a loop is already running: use a fresh one elsewhere.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


# -- I/O -----------------------------------------------------------------------

class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server through langchain-openai."""

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None,
                 timeout: float = 120, max_concurrency: int = 8, retries: int = 4,
                 structured: bool = True, strict: bool = False,
                 backoff_base: float = 1.0, backoff_cap: float = 30.0,
                 extra_body: dict[str, Any] | None = None) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.timeout = timeout
        self.max_concurrency = max(1, max_concurrency)
        self.retries = max(0, retries)
        self.structured = structured
        self.strict = strict
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        # Server-specific fields, e.g. {"chat_template_kwargs": {"enable_thinking": False}}
        # for Qwen3 on vLLM (hosted APIs reject unknown fields, so none by default).
        self.extra_body = dict(extra_body or {})
        self.response_format_rejected = False

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """One list of `request.n` responses per request, in order (concurrent calls)."""
        if not requests:
            return []
        return run_sync(lambda: self.agenerate(requests))

    async def agenerate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The async form of `generate`."""
        async with self.session() as ask:
            semaphore = asyncio.Semaphore(self.max_concurrency)

            async def one(request: LLMRequest) -> list[LLMResponse]:
                async with semaphore:
                    return await ask(request)

            outcomes = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Callable[[LLMRequest], Awaitable[list[LLMResponse]]]]:
        """An async `ask(request) -> responses` (with the retries) bound to clients that live
        as long as the `async with` block, inside the running event loop."""
        import httpx

        # Pooled connections must not outlive the loop that opened them. The sync client
        # is never used but given, or langchain would cache a process-wide one.
        http_sync = httpx.Client(timeout=self.timeout)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http_async:
                llm = self._chat_model(http_async, http_sync)
                yield lambda request: self._samples(llm, request)
        finally:
            http_sync.close()

    def _chat_model(self, http_async: Any, http_sync: Any) -> Any:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=self.model, base_url=self.base_url, api_key=self.api_key,
                          timeout=self.timeout, max_retries=0,
                          http_async_client=http_async, http_client=http_sync)

    async def _samples(self, llm: Any, request: LLMRequest) -> list[LLMResponse]:
        """All `request.n` samples; more calls when the server returns fewer choices
        (Ollama and llama.cpp ignore `n`)."""
        responses: list[LLMResponse] = []
        calls = 0
        while len(responses) < request.n:
            missing = request.n - len(responses)
            sub = request if missing == request.n else _follow_up(request, missing, calls)
            got = await self._call(llm, sub)
            if not got:
                raise LLMError(f"the LLM server at {self.base_url} returned no choices",
                               hint="check the server log")
            responses.extend(got[:missing])
            calls += 1
        return responses

    async def _call(self, llm: Any, request: LLMRequest) -> list[LLMResponse]:
        messages = _to_langchain_messages(request)
        attempt = 0
        while True:
            structured = self.structured and not self.response_format_rejected
            kwargs = {**self.extra_body,
                      **build_chat_kwargs(request, structured=structured, strict=self.strict)}
            started = time.perf_counter()
            try:
                result = await llm.agenerate([messages], extra_body=kwargs)
            except Exception as exc:  # translated below; nothing is swallowed
                if "response_format" in kwargs and is_response_format_rejection(exc):
                    self.response_format_rejected = True  # plain text + extract_json
                    continue
                error = translate_error(exc, base_url=self.base_url, model=self.model)
                if not error.retryable or attempt >= self.retries:
                    raise error from exc
                await asyncio.sleep(self._retry_delay(exc, attempt))
                attempt += 1
                continue
            latency = time.perf_counter() - started
            return parse_chat_result(result, model=self.model, latency_seconds=latency)

    def _retry_delay(self, exc: BaseException, attempt: int) -> float:
        delay = backoff_seconds(attempt, base=self.backoff_base, cap=self.backoff_cap)
        retry_after = _retry_after_seconds(exc)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_cap))
        return delay


def _follow_up(request: LLMRequest, missing: int, calls: int) -> LLMRequest:
    """The request for the samples still missing; a fixed seed is shifted so that
    the extra samples differ from the first ones."""
    sampling = request.sampling
    if sampling.seed is not None:
        sampling = sampling.model_copy(update={"seed": sampling.seed + calls})
    return request.model_copy(update={"n": missing, "sampling": sampling})


def _retry_after_seconds(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _to_langchain_messages(request: LLMRequest) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[message.role](content=message.content) for message in request.messages]

