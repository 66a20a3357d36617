"""vLLM replicas across a Ray cluster through Ray Data (`--ray` with a `vllm:` spec).

Each `generate(requests)` call is one Ray Data batch-inference pipeline: the
requests become rows, `ray.data.llm.build_processor` with a
`vLLMEngineProcessorConfig` runs them on `replicas` vLLM engines (one per GPU,
or per tensor-parallel group: `concurrency=replicas`), and the replies come
back in order. The Ray API used (Ray >= 2.54, `pip install 'nl2opt[ray-vllm]'`):

- ``vLLMEngineProcessorConfig(model_source, engine_kwargs, concurrency,
  batch_size, should_continue_on_error=True)``: a failing row gets an
  ``__inference_error__`` column instead of failing the whole pipeline.
- ``build_processor(config, preprocess=, postprocess=, builder_kwargs=
  {"chat_template_kwargs": ...})``; ``processor(dataset)``.
- Per row: ``messages`` (OpenAI chat format) and ``sampling_params``, whose
  ``structured_outputs`` becomes ``vllm.sampling_params.
  StructuredOutputsParams(**it)`` (Ray >= 2.54; older Ray reads only the
  removed ``guided_decoding`` name, so it is refused rather than left to
  decode without the schema). The schema travels as a JSON string, since a
  schema object would become an Arrow struct column that fills absent keys
  with nulls.
- Output columns: ``generated_text``, ``num_input_tokens``,
  ``num_generated_tokens`` (of the first completion only: a request of `n`
  samples becomes `n` rows, each with its own seed when one is fixed).

The engines start with each pipeline, so a call costs one model load: the
runner's `--batch-size` decides how many items share it (docs/scaling.md).
"""

from __future__ import annotations

import importlib
import json
import math
import time
from typing import Any

from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse, Usage
from nl2opt.llm.vllm_backend import build_sampling_kwargs, to_chat_messages

INSTALL_HINT = "pip install 'nl2opt[ray-vllm]' on the cluster (Ray >= 2.54 with its llm extra)"
MIN_RAY = (2, 54)
ERROR_COLUMN = "__inference_error__"
MAX_ROWS_PER_BATCH = 64


# -- pure --------------------------------------------------------------------------

def request_rows(requests: list[LLMRequest]) -> list[dict[str, Any]]:
    """One dataset row per sample: where it belongs and the request as JSON text."""
    return [{"request": index, "sample": sample,
             "payload": json.dumps({"messages": to_chat_messages(request),
                                    "sampling_params": sample_params(request, sample)})}
            for index, request in enumerate(requests) for sample in range(request.n)]


def sample_params(request: LLMRequest, sample: int) -> dict[str, Any]:
    """vLLM sampling parameters for one sample of `request`, the schema as structured
    outputs; a fixed seed is shifted per sample so the samples differ."""
    params = build_sampling_kwargs(request)
    params["n"] = 1
    if params["seed"] is not None:
        params["seed"] += sample
    params["structured_outputs"] = (None if request.json_schema is None else
                                    {"json": json.dumps(request.json_schema)})
    return params


def to_engine_row(row: dict[str, Any]) -> dict[str, Any]:
    """`preprocess`: the columns the vLLM processor reads."""
    payload = json.loads(row["payload"])
    return {"request": row["request"], "sample": row["sample"],
            "messages": payload["messages"], "sampling_params": payload["sampling_params"]}


def from_engine_row(row: dict[str, Any]) -> dict[str, Any]:
    """`postprocess`: what `read_rows` needs, nothing more."""
    return {"request": row["request"], "sample": row["sample"],
            "text": row.get("generated_text") or "",
            "prompt_tokens": int(row.get("num_input_tokens") or 0),
            "completion_tokens": int(row.get("num_generated_tokens") or 0)}


def read_rows(rows: list[dict[str, Any]], requests: list[LLMRequest], *, model: str,
              seconds: float) -> list[list[LLMResponse] | LLMError]:
    """Responses per request in sample order, or the LLMError of a request's failed row."""
    found: list[dict[int, LLMResponse]] = [{} for _ in requests]
    failed: dict[int, LLMError] = {}
    for row in rows:
        index, sample = int(row["request"]), int(row["sample"])
        if row.get(ERROR_COLUMN):
            failed[index] = LLMError(f"vLLM on Ray failed on a request: {row[ERROR_COLUMN]}",
                                     hint="a too-long prompt needs a larger max_model_len")
            continue
        found[index][sample] = response_of(row, requests[index], model, seconds)
    answers: list[list[LLMResponse] | LLMError] = []
    for index, request in enumerate(requests):
        samples = found[index]
        if index not in failed and len(samples) != request.n:
            failed[index] = LLMError(f"Ray Data returned {len(samples)} of {request.n} "
                                     "samples for a request", hint="a Ray Data bug; report it")
        answers.append(failed.get(index) or [samples[k] for k in sorted(samples)])
    return answers


def response_of(row: dict[str, Any], request: LLMRequest, model: str,
                seconds: float) -> LLMResponse:
    """One sample. Ray reports no finish reason: a reply that used every allowed token
    was cut off ("length"); prompt tokens count on the first sample only."""
    text, completion = row["text"], row["completion_tokens"]
    cut = completion >= request.sampling.max_tokens
    return LLMResponse(text=text, parsed=extract_json(text),
                       finish_reason="length" if cut else "stop",
                       usage=Usage(prompt_tokens=row["prompt_tokens"] if row["sample"] == 0
                                   else 0, completion_tokens=completion),
                       latency_seconds=seconds, model=model)


def rows_per_batch(rows: int, replicas: int) -> int:
    """Rows per engine batch: every replica gets work, no batch is huge."""
    return max(1, min(MAX_ROWS_PER_BATCH, math.ceil(rows / max(1, replicas))))


# -- I/O ---------------------------------------------------------------------------

def import_ray_data() -> tuple[Any, Any]:
    """(ray.data, ray.data.llm), or an LLMError saying what to install."""
    try:
        ray = importlib.import_module("ray")
        data = importlib.import_module("ray.data")
        llm = importlib.import_module("ray.data.llm")
    except ImportError as error:
        raise LLMError(f"vLLM on Ray needs Ray Data's LLM support ({error})",
                       hint=INSTALL_HINT) from error
    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_RAY:
        raise LLMError(f"Ray {ray.__version__} passes no structured outputs to vLLM",
                       hint=f"Ray >= {'.'.join(map(str, MIN_RAY))} is needed: {INSTALL_HINT}")
    return data, llm


class RayVllmBackend:
    """Batched chat on `replicas` vLLM engines of a Ray cluster (see the module docstring).

    `engine_kwargs` go to vLLM (e.g. ``tensor_parallel_size=2, max_model_len=16384``).
    `data_module` and `llm_module` replace ``ray.data`` and ``ray.data.llm`` (tests).
    """

    name = "vllm"

    def __init__(self, model: str, *, replicas: int = 1,
                 chat_template_kwargs: dict[str, Any] | None = None,
                 data_module: Any = None, llm_module: Any = None, **engine_kwargs: Any) -> None:
        self.model = model
        self.replicas = max(1, replicas)
        self.chat_template_kwargs = ({"enable_thinking": False}
                                     if chat_template_kwargs is None else chat_template_kwargs)
        self.engine_kwargs = engine_kwargs
        if data_module is None or llm_module is None:
            data_module, llm_module = import_ray_data()
        self._data, self._llm = data_module, llm_module
        # Answers of a batch that failed, by request key, until delivered: when the runner
        # retries such a batch one request at a time, each answer (or error) comes from
        # here instead of another pipeline with another model load.
        self._kept: dict[str, list[LLMResponse] | LLMError] = {}

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """One list of `request.n` responses per request, in order, in one pipeline."""
        keys = [request.key(self.model) for request in requests]
        todo = {key: request for key, request in zip(keys, requests) if key not in self._kept}
        if todo:
            self._kept.update(zip(todo, self._run(list(todo.values()))))
        answers = [self._kept[key] for key in keys]
        failed = next((answer for answer in answers if isinstance(answer, LLMError)), None)
        if failed is None or len(requests) == 1:  # delivered: forget them
            for key in keys:
                self._kept.pop(key, None)
        if failed is not None:
            raise failed
        return answers  # type: ignore[return-value]

    def _run(self, requests: list[LLMRequest]) -> list[list[LLMResponse] | LLMError]:
        rows = request_rows(requests)
        started = time.perf_counter()
        try:
            output = self._processor(len(rows))(self._data.from_items(rows)).take_all()
        except Exception as error:  # noqa: BLE001 - engine start, a lost node: all fail
            failure = pipeline_error(error, self.model)
            return [failure] * len(requests)
        return read_rows(output, requests, model=self.model,
                         seconds=time.perf_counter() - started)

    def _processor(self, rows: int) -> Any:
        config = self._llm.vLLMEngineProcessorConfig(
            model_source=self.model, engine_kwargs=dict(self.engine_kwargs),
            concurrency=self.replicas, batch_size=rows_per_batch(rows, self.replicas),
            should_continue_on_error=True)
        return self._llm.build_processor(
            config, preprocess=to_engine_row, postprocess=from_engine_row,
            builder_kwargs={"chat_template_kwargs": self.chat_template_kwargs})


def pipeline_error(error: Exception, model: str) -> LLMError:
    """An LLMError for a failed pipeline; retryable when the cluster lost a part."""
    lost = type(error).__name__ in ("ActorDiedError", "RayActorError", "NodeDiedError",
                                    "ObjectLostError", "WorkerCrashedError", "OwnerDiedError")
    return LLMError(f"vLLM on Ray could not run {model!r}: {type(error).__name__}: {error}",
                    retryable=lost,
                    hint=("a node or replica was lost; resume the run with --resume" if lost
                          else "check the model name, GPU memory (max_model_len, "
                               "gpu_memory_utilization) and the Ray dashboard's logs"))
