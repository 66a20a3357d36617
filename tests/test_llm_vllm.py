"""VllmBackend with a fake vllm module (no GPU needed), plus one real-engine test."""

from __future__ import annotations

import importlib.util
import sys
import types
from types import SimpleNamespace

import pytest

from nl2opt.llm import vllm_backend
from nl2opt.llm.types import LLMError, LLMRequest, Message, Sampling
from nl2opt.llm.vllm_backend import (
    VllmBackend, build_sampling_kwargs, make_sampling_params, parse_request_output,
    request_latency)

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


class Recorder:
    """A stand-in vLLM class that keeps its keyword arguments."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __getattr__(self, name):
        try:
            return self.__dict__["kwargs"][name]
        except KeyError:
            raise AttributeError(name) from None


class FakeSamplingParams(Recorder):
    pass


class FakeStructuredOutputsParams(Recorder):
    pass


def completion(text, index=0, finish="stop", tokens=3):
    return SimpleNamespace(index=index, text=text, finish_reason=finish,
                           token_ids=list(range(tokens)))


class FakeLLM:
    """Answers every conversation with the scripted texts (one per sample)."""

    instances: list["FakeLLM"] = []

    def __init__(self, model, **engine_kwargs):
        self.model, self.engine_kwargs, self.calls = model, engine_kwargs, []
        FakeLLM.instances.append(self)

    def chat(self, conversations, sampling_params=None, **kwargs):
        self.calls.append((conversations, sampling_params, kwargs))
        outputs = []
        for conversation, params in zip(conversations, sampling_params):
            n = params.kwargs["n"]
            texts = [f'{{"x": {len(conversation[-1]["content"]) + i}}}' for i in range(n)]
            outputs.append(SimpleNamespace(
                prompt_token_ids=list(range(17)), metrics=None,
                outputs=[completion(t, index=i) for i, t in enumerate(texts)]))
        return outputs


def fake_vllm():
    return SimpleNamespace(
        __version__="0.33.0", LLM=FakeLLM, SamplingParams=FakeSamplingParams,
        sampling_params=SimpleNamespace(StructuredOutputsParams=FakeStructuredOutputsParams))


def request(text="hello", schema=SCHEMA, n=1, seed=None):
    return LLMRequest(messages=[Message(role="system", content="sys"),
                                Message(role="user", content=text)],
                      json_schema=schema, n=n,
                      sampling=Sampling(temperature=0.7, top_p=0.8, max_tokens=512, seed=seed))


def test_schema_reaches_structured_outputs_of_the_sampling_params():
    params = make_sampling_params(request(n=4, seed=5), fake_vllm())
    assert isinstance(params.structured_outputs, FakeStructuredOutputsParams)
    assert params.structured_outputs.json == SCHEMA
    assert (params.n, params.temperature, params.top_p, params.max_tokens, params.seed) == (
        4, 0.7, 0.8, 512, 5)
    assert "guided_decoding" not in params.kwargs  # removed from vLLM >= 0.12


def test_no_schema_means_no_structured_outputs():
    params = make_sampling_params(request(schema=None), fake_vllm())
    assert "structured_outputs" not in params.kwargs
    assert build_sampling_kwargs(request(schema=None)) == params.kwargs


def test_an_old_vllm_without_structured_outputs_is_a_clear_error():
    old = SimpleNamespace(__version__="0.9.2", SamplingParams=FakeSamplingParams)
    with pytest.raises(LLMError, match="vllm>=0.11"):
        make_sampling_params(request(), old)


def test_parse_request_output_reads_samples_in_index_order():
    output = SimpleNamespace(
        prompt_token_ids=[1, 2, 3, 4],
        metrics=SimpleNamespace(first_scheduled_ts=10.0, last_token_ts=12.5),
        outputs=[completion('{"x": 2}', index=1, finish="length", tokens=9),
                 completion('```json\n{"x": 1}\n```', index=0, tokens=5)])
    first, second = parse_request_output(output, model="m", latency_seconds=99.0)
    assert first.parsed == {"x": 1} and first.finish_reason == "stop"
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (4, 5)
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (0, 9)
    assert second.finish_reason == "length" and first.latency_seconds == 2.5
    assert first.model == "m"


def test_latency_falls_back_to_wall_time_without_metrics():
    output = SimpleNamespace(prompt_token_ids=None, metrics=None,
                             outputs=[completion("not json", finish=None)])
    [response] = parse_request_output(output, latency_seconds=1.25)
    assert response.latency_seconds == 1.25 and response.parsed is None
    assert response.finish_reason == ""
    assert request_latency(SimpleNamespace(arrival_time=5.0, finished_time=7.0)) == 2.0


def test_generate_batches_all_conversations_in_one_chat_call():
    FakeLLM.instances.clear()
    llm = VllmBackend("Qwen/Qwen3-8B", vllm_module=fake_vllm(), max_model_len=8192)
    assert not FakeLLM.instances  # the engine starts lazily
    answers = llm.generate([request("ab"), request("abcd", n=2)])
    [engine] = FakeLLM.instances
    assert engine.model == "Qwen/Qwen3-8B" and engine.engine_kwargs == {"max_model_len": 8192}
    [(conversations, params, kwargs)] = engine.calls
    assert conversations[1] == [{"role": "system", "content": "sys"},
                                {"role": "user", "content": "abcd"}]
    assert [p.structured_outputs.json for p in params] == [SCHEMA, SCHEMA]
    assert kwargs["chat_template_kwargs"] == {"enable_thinking": False}
    assert [[r.parsed for r in a] for a in answers] == [[{"x": 2}], [{"x": 4}, {"x": 5}]]
    assert answers[0][0].usage.prompt_tokens == 17


def test_engine_start_failure_is_an_llm_error_with_a_hint():
    class Broken:
        def __init__(self, **kwargs):
            raise RuntimeError("CUDA out of memory")

    module = fake_vllm()
    module.LLM = Broken
    with pytest.raises(LLMError, match="CUDA out of memory") as caught:
        VllmBackend("m", vllm_module=module).generate([request()])
    assert "gpu_memory_utilization" in caught.value.hint and not caught.value.retryable


def test_missing_vllm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(LLMError) as caught:
        VllmBackend("Qwen/Qwen3-8B")
    assert "pip install 'nl2opt[vllm]'" in caught.value.hint
    assert "NVIDIA GPU" in caught.value.hint and not caught.value.retryable


def test_no_visible_gpu_is_a_clear_error(monkeypatch):
    fake_torch = types.ModuleType("torch")
    fake_torch.cuda = SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    with pytest.raises(LLMError, match="NVIDIA GPU"):
        vllm_backend.require_gpu()


def _real_engine_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return "needs vllm and an NVIDIA GPU (vllm is not installed)"
    import torch

    if not torch.cuda.is_available():
        return "needs vllm and an NVIDIA GPU (no CUDA device visible)"
    return None


@pytest.mark.skipif(_real_engine_reason() is not None,
                    reason=_real_engine_reason() or "needs vllm and an NVIDIA GPU")
def test_real_engine_follows_the_schema():
    llm = VllmBackend("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=2048,
                      gpu_memory_utilization=0.5)
    [[response]] = llm.generate([request("Give x as the number 3, in JSON.")])
    assert isinstance(response.parsed, dict) and isinstance(response.parsed.get("x"), int)
