"""vLLM in-process (`pip install 'nl2opt[vllm]'`, an NVIDIA GPU): offline batched chat.

The vLLM API used (vLLM >= 0.11; see pyproject's `vllm` extra):

- ``vllm.SamplingParams(n, temperature, top_p, max_tokens, seed,
  structured_outputs=vllm.sampling_params.StructuredOutputsParams(json=schema))``.
  ``StructuredOutputsParams`` replaced ``GuidedDecodingParams`` (vLLM PR #22772,
  deprecated in 0.10.2, the ``guided_*`` fields removed in 0.12.0). We never
  fall back to the old names: recent servers ignore them silently, which would
  turn constrained decoding off without a word.
- ``LLM(model=..., **engine_kwargs).chat(list_of_message_lists,
  sampling_params=[one per conversation], chat_template_kwargs=...)`` returns
  one ``RequestOutput`` per conversation, in order; each has ``outputs``
  (``CompletionOutput``: text, token_ids, finish_reason), ``prompt_token_ids``
  and, when stats are on, ``metrics``.

`build_sampling_kwargs`, `make_sampling_params` and `parse_request_output` are
pure (the vllm module is passed in), so they are tested with a fake module.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage

INSTALL_HINT = "pip install 'nl2opt[vllm]' on a machine with an NVIDIA GPU"
OTHER_WAYS = ("or serve the model elsewhere and use NL2OPT_LLM="
              "'openai:MODEL@http://HOST:8000/v1'")


# -- pure ------------------------------------------------------------------------

def build_sampling_kwargs(request: LLMRequest) -> dict[str, Any]:
    """The plain `SamplingParams` keyword arguments for `request` (no schema)."""
    sampling = request.sampling
    return {"n": request.n, "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens, "seed": sampling.seed}


def structured_outputs_class(vllm_module: Any) -> Any:
    """vLLM's `StructuredOutputsParams` class, or a clear error on an old vLLM."""
    found = getattr(vllm_module, "StructuredOutputsParams", None)
    if found is None:
        found = getattr(getattr(vllm_module, "sampling_params", None),
                        "StructuredOutputsParams", None)
    if found is None and hasattr(vllm_module, "__path__"):
        try:
            module = importlib.import_module(f"{vllm_module.__name__}.sampling_params")
            found = getattr(module, "StructuredOutputsParams", None)
        except ImportError:
            found = None
    if found is None:
        version = getattr(vllm_module, "__version__", "unknown")
        raise LLMError(f"vLLM {version} has no StructuredOutputsParams",
                       hint="structured outputs need vllm>=0.11: "
                            "pip install -U 'nl2opt[vllm]'")
    return found


def make_sampling_params(request: LLMRequest, vllm_module: Any) -> Any:
    """`vllm_module.SamplingParams` for `request`, JSON schema as structured outputs."""
    kwargs = build_sampling_kwargs(request)
    if request.json_schema is not None:
        kwargs["structured_outputs"] = structured_outputs_class(vllm_module)(
            json=request.json_schema)
    return vllm_module.SamplingParams(**kwargs)


def to_chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The conversation in the OpenAI message format `LLM.chat` takes."""
    return [{"role": message.role, "content": message.content}
            for message in request.messages]


def parse_request_output(output: Any, *, model: str = "",
                         latency_seconds: float | None = None) -> list[LLMResponse]:
    """`LLMResponse`s (one per sample, by index) from one vLLM `RequestOutput`.

    Prompt tokens count once, on the first sample, so usage sums like the
    OpenAI backend's. Latency comes from the request's metrics when vLLM
    recorded them, else `latency_seconds` (the batch's wall time).
    """
    prompt_tokens = len(getattr(output, "prompt_token_ids", None) or [])
    latency = request_latency(getattr(output, "metrics", None))
    if latency is None:
        latency = latency_seconds or 0.0
    completions = sorted(output.outputs, key=lambda c: getattr(c, "index", 0))
    responses = []
    for position, completion in enumerate(completions):
        text = completion.text or ""
        responses.append(LLMResponse(
            text=text, parsed=extract_json(text),
            finish_reason=str(completion.finish_reason or ""),
            usage=Usage(prompt_tokens=prompt_tokens if position == 0 else 0,
                        completion_tokens=len(getattr(completion, "token_ids", None) or [])),
            latency_seconds=latency, model=model))
    return responses


def request_latency(metrics: Any) -> float | None:
    """Seconds from scheduling (or arrival) to the last token, if vLLM recorded it.

    Engine V1 (`RequestStateStats`) keeps monotonic `first_scheduled_ts` and
    `last_token_ts`; the older `RequestMetrics` had `arrival_time` and
    `finished_time` (wall clock). Anything else: unknown.
    """
    if metrics is None:
        return None
    pairs = (("first_scheduled_ts", "last_token_ts"), ("arrival_time", "finished_time"))
    for start_name, end_name in pairs:
        start, end = getattr(metrics, start_name, None), getattr(metrics, end_name, None)
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start > 0:
            return float(end - start)
    return None


# -- I/O -------------------------------------------------------------------------

def import_vllm() -> Any:
    """The vllm module, or a non-retryable `LLMError` saying how to get it."""
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise LLMError(f"vLLM is not installed ({exc})",
                       hint=f"{INSTALL_HINT}, {OTHER_WAYS}") from exc


def require_gpu() -> None:
    """Fail early and clearly when torch sees no CUDA device."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return  # vLLM will say what it misses
    if not torch.cuda.is_available():
        raise LLMError("vLLM needs an NVIDIA GPU and none is visible (torch.cuda)",
                       hint=f"check nvidia-smi and CUDA_VISIBLE_DEVICES, {OTHER_WAYS}")


class VllmBackend:
    """Batched offline chat through `vllm.LLM`; the engine starts on first use.

    `chat_template_kwargs` defaults to ``{"enable_thinking": False}``: Qwen3's
    non-thinking mode (the JSON grammar leaves no room for a <think> block);
    other chat templates ignore the variable. `engine_kwargs` go to
    ``vllm.LLM`` (e.g. ``max_model_len=16384, gpu_memory_utilization=0.85``).
    `vllm_module` replaces the real import (tests).
    """

    name = "vllm"

    def __init__(self, model: str, *, chat_template_kwargs: dict[str, Any] | None = None,
                 vllm_module: Any = None, **engine_kwargs: Any) -> None:
        self.model = model
        self.chat_template_kwargs = ({"enable_thinking": False}
                                     if chat_template_kwargs is None else chat_template_kwargs)
        self.engine_kwargs = engine_kwargs
        self._real_vllm = vllm_module is None
        self._vllm = import_vllm() if vllm_module is None else vllm_module
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The `vllm.LLM`, started on first access."""
        if self._engine is None:
            if self._real_vllm:
                require_gpu()
            try:
                self._engine = self._vllm.LLM(model=self.model, **self.engine_kwargs)
            except LLMError:
                raise
            except Exception as exc:  # CUDA, out-of-memory, unknown model, ...
                raise LLMError(f"vLLM could not start {self.model!r}: "
                               f"{type(exc).__name__}: {exc}",
                               hint="check the model name, GPU memory (try "
                                    "max_model_len/gpu_memory_utilization) and "
                                    f"nvidia-smi; {OTHER_WAYS}") from exc
        return self._engine

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """One list of `request.n` responses per request, in order, in one batch."""
        if not requests:
            return []
        params = [make_sampling_params(request, self._vllm) for request in requests]
        conversations = [to_chat_messages(request) for request in requests]
        engine = self.engine
        started = time.perf_counter()
        try:
            outputs = engine.chat(conversations, sampling_params=params, use_tqdm=False,
                                  chat_template_kwargs=self.chat_template_kwargs)
        except Exception as exc:
            raise LLMError(f"vLLM generation failed: {type(exc).__name__}: {exc}",
                           hint="see the vLLM log above; a too-long prompt needs a "
                                "larger max_model_len") from exc
        wall = time.perf_counter() - started
        if len(outputs) != len(requests):
            raise LLMError(f"vLLM returned {len(outputs)} outputs for {len(requests)} "
                           "requests", hint="this is a vLLM bug; please report it")
        return [parse_request_output(output, model=self.model, latency_seconds=wall)
                for output in outputs]
