"""The LLM the settings name, a fast reachability check, and "test connection".

A server that is down is found in about a second by opening a TCP connection
before any request is sent (instead of after the client's retries, about 12 s),
and the error names the URL first.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import streamlit as st

from nl2opt.app.demo import app_demo_backend
from nl2opt.app.settings import Settings
from nl2opt.llm.spec import make_llm, parse_spec
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, Message, Sampling

PROBE_SECONDS = 2.0
PING = "Reply with the single word: ready"


@st.cache_resource(show_spinner="Loading the LLM ...")
def _cached_llm(spec: str, api_key: str) -> LLMBackend:
    parsed = parse_spec(spec)
    if parsed.scheme == "openai":
        from nl2opt.llm.openai_backend import OpenAIBackend

        # One retry: the reachability check has already ruled out a server that is down.
        return OpenAIBackend(parsed.model, parsed.base_url, api_key=api_key or None,
                             retries=1)
    return make_llm(spec)


@st.cache_resource(show_spinner=False)
def _cached_demo() -> LLMBackend:
    return app_demo_backend()


def get_llm(settings: Settings) -> LLMBackend:
    """The LLM backend for the settings (loaded once per spec and server process); for a
    server, LLMError at once when nothing listens at its address.

    Replay recordings are read fresh each time, so a file recorded meanwhile is seen.
    """
    if settings.demo:
        return _cached_demo()
    if settings.spec.strip() == "demo":
        return make_llm("demo")
    if settings.spec.startswith(("replay:", "record:")):
        return make_llm(settings.spec)
    server = server_url(settings.spec)
    if server:
        problem = unreachable(server)
        if problem:
            raise LLMError(f"cannot connect to the LLM server at {server} ({problem})",
                           hint="start the server (for example `ollama serve` or "
                                "`vllm serve MODEL`)")
    return _cached_llm(settings.spec, settings.api_key)


def server_url(spec: str) -> str:
    """The base URL of an openai: spec ('' for other schemes or a bad spec)."""
    try:
        parsed = parse_spec(spec)
    except LLMError:
        return ""
    return parsed.base_url if parsed.scheme == "openai" else ""


def unreachable(url: str, timeout: float = PROBE_SECONDS) -> str:
    """'' when something accepts TCP connections at the URL's host and port, else why not."""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return ""
    except OSError as error:
        return error.strerror or type(error).__name__


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def check_connection(settings: Settings) -> ConnectionCheck:
    """Send one tiny request; report the model that answered and how long it took."""
    if settings.demo:
        return ConnectionCheck(True, "Demo mode replays recorded answers: nothing to connect "
                                     "to.")
    if settings.spec.startswith("replay:"):
        return ConnectionCheck(True, "A replay file answers only the requests it recorded; "
                                     "there is no server to test.")
    started = time.perf_counter()
    try:
        llm = get_llm(settings)
        reply = llm.generate([LLMRequest(messages=[Message(role="user", content=PING)],
                                         sampling=Sampling(max_tokens=8),
                                         schema_name="ping", prompt_id="ping")])[0][0]
    except LLMError as error:
        return ConnectionCheck(False, str(error))
    except Exception as error:  # noqa: BLE001 - any backend failure is reported, not raised
        return ConnectionCheck(False, f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    model = reply.model or getattr(llm, "model", "") or "the model"
    return ConnectionCheck(True, f"Connected: {model} answered in {seconds:.2f} s.")
