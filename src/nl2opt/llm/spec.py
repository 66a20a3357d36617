"""Choose an LLM backend with one spec string: `make_llm(spec)`.

Spec syntax (the part after the first ':' is scheme-specific):

- ``vllm:MODEL[?KEY=VALUE&...]`` in-process vLLM; the query goes to
  ``vllm.LLM`` as engine arguments (numbers and true/false are converted),
  e.g. ``vllm:Qwen/Qwen3-8B?max_model_len=16384&gpu_memory_utilization=0.85``.
- ``openai:MODEL@BASE_URL`` any OpenAI-compatible server, e.g.
  ``openai:Qwen/Qwen3-8B@http://localhost:8000/v1`` (vllm serve) or
  ``openai:qwen2.5:7b@http://localhost:11434/v1`` (Ollama). The model may
  contain ':' and '@': the URL starts after the LAST '@'. Without
  ``@BASE_URL``: env OPENAI_BASE_URL, else http://localhost:8000/v1. The API
  key is env OPENAI_API_KEY, else "EMPTY". Several comma-separated URLs
  (``openai:MODEL@URL1,URL2``, e.g. one server per node) share the requests
  (see `nl2opt.llm.endpoints`).
- ``batch:DIR[#MODEL]`` offline OpenAI-Batch JSONL files in DIR (see
  `nl2opt.llm.batch`); MODEL (after the last '#') defaults to DEFAULT_MODEL.
- ``replay:PATH`` answers recorded in the JSONL file PATH, exact keys only.
- ``demo`` the bundled demo recording (a hand-written answer for one bundled
  problem; see `nl2opt.llm.demo`), for trying nl2opt without a GPU.
- ``record:PATH=INNER_SPEC`` run INNER_SPEC and append every answer to PATH,
  e.g. ``record:runs/llm.jsonl=openai:qwen2.5:7b@http://localhost:11434/v1``.
  PATH ends at the first '=' (so it cannot contain one).

`make_llm(None)` reads env NL2OPT_LLM, else ``vllm:DEFAULT_MODEL``.

Why DEFAULT_MODEL is Qwen/Qwen3-8B: it is the strongest open model we know
that runs on one 24 GB GPU without quantization (about 16.4 GB of bf16
weights, leaving room for a KV cache of a few tens of thousands of tokens, so
formulation prompts with a few-shot example fit), it follows JSON schemas and
tool formats reliably (and vLLM's structured outputs make the syntax certain
anyway), its non-thinking mode answers quickly while thinking mode is one
chat-template flag away, and it is Apache-2.0. On 40-80 GB GPUs the same
family scales up (Qwen/Qwen3-14B, Qwen/Qwen3-32B) with no other change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from nl2opt.llm.types import LLMBackend, LLMError

DEFAULT_MODEL = "Qwen/Qwen3-8B"
DEFAULT_OPENAI_BASE_URL = "http://localhost:8000/v1"
ENV_SPEC = "NL2OPT_LLM"
SCHEMES = ("vllm", "openai", "batch", "replay", "record")
EXAMPLES = ("vllm:Qwen/Qwen3-8B", "openai:qwen2.5:7b@http://localhost:11434/v1",
            "batch:runs/batch#Qwen/Qwen3-8B", "replay:runs/llm.jsonl",
            "record:runs/llm.jsonl=openai:Qwen/Qwen3-8B@http://localhost:8000/v1")


@dataclass(frozen=True)
class LLMSpec:
    """A parsed spec string (see the module docstring)."""

    scheme: str
    model: str = ""
    base_url: str = ""
    path: str = ""
    inner: "LLMSpec | None" = None
    options: dict[str, Any] = field(default_factory=dict)


def _spec_error(spec: str, problem: str) -> LLMError:
    return LLMError(f"bad LLM spec {spec!r}: {problem}",
                    hint=f"valid schemes: {', '.join(SCHEMES)}; e.g. {'; '.join(EXAMPLES)}")


def _coerce(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _engine_options(spec: str, query: str) -> dict[str, Any]:
    options = {}
    for item in filter(None, query.split("&")):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _spec_error(spec, f"engine option {item!r} is not KEY=VALUE")
        options[name] = _coerce(value)
    return options


def parse_spec(spec: str) -> LLMSpec:
    """The parts of a spec string; `LLMError` naming the valid schemes if unknown."""
    scheme, sep, rest = spec.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _spec_error(spec, f"unknown scheme {scheme!r}" if sep else "no 'scheme:'")
    if not rest:
        raise _spec_error(spec, f"nothing after '{scheme}:'")
    if scheme == "vllm":
        model, _, query = rest.partition("?")
        return LLMSpec("vllm", model=model, options=_engine_options(spec, query))
    if scheme == "openai":
        model, at, base_url = rest.rpartition("@")
        if not at:
            model, base_url = rest, os.environ.get("OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL)
        if not model or not all(url.startswith(("http://", "https://"))
                                for url in base_url.split(",")):
            raise _spec_error(spec, "expected openai:MODEL@http(s)://HOST:PORT/v1 (or several "
                                    "such URLs separated by commas)")
        return LLMSpec("openai", model=model, base_url=base_url)
    if scheme == "batch":
        directory, hash_sign, model = rest.rpartition("#")
        if not hash_sign:
            directory, model = rest, DEFAULT_MODEL
        if not directory or not model:
            raise _spec_error(spec, "expected batch:DIR or batch:DIR#MODEL")
        return LLMSpec("batch", model=model, path=directory)
    if scheme == "replay":
        return LLMSpec("replay", path=rest)
    path, eq, inner = rest.partition("=")
    if not eq or not path or not inner:
        raise _spec_error(spec, "expected record:PATH=INNER_SPEC")
    return LLMSpec("record", path=path, inner=parse_spec(inner))


def build_backend(parsed: LLMSpec) -> LLMBackend:
    """The backend a parsed spec describes (imports only what it needs)."""
    if parsed.scheme == "vllm":
        from nl2opt.llm.vllm_backend import VllmBackend

        return VllmBackend(parsed.model, **parsed.options)
    if parsed.scheme == "openai" and "," in parsed.base_url:
        from nl2opt.llm.endpoints import EndpointsBackend

        return EndpointsBackend(parsed.model, parsed.base_url.split(","))
    if parsed.scheme == "openai":
        from nl2opt.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(parsed.model, parsed.base_url)
    if parsed.scheme == "batch":
        from nl2opt.llm.batch import BatchBackend

        return BatchBackend(parsed.path, parsed.model)
    from nl2opt.llm.replay import RecordingBackend, ReplayBackend

    if parsed.scheme == "replay":
        return ReplayBackend(parsed.path)
    assert parsed.inner is not None
    return RecordingBackend(build_backend(parsed.inner), parsed.path)


def default_spec() -> str:
    """Env NL2OPT_LLM, else in-process vLLM with DEFAULT_MODEL."""
    return os.environ.get(ENV_SPEC, "").strip() or f"vllm:{DEFAULT_MODEL}"


def make_llm(spec: "str | LLMBackend | None" = None) -> LLMBackend:
    """The LLM backend for `spec`: a spec string, a backend (returned as is), or None."""
    if spec is None:
        spec = default_spec()
    if not isinstance(spec, str):
        if callable(getattr(spec, "generate", None)):
            return spec
        raise LLMError(f"cannot use {type(spec).__name__} as an LLM backend",
                       hint="pass a spec string or an object with generate(requests)")
    if spec.strip() == "demo":
        from nl2opt.llm.demo import demo_backend

        return demo_backend()
    return build_backend(parse_spec(spec))
