"""Spec strings -> backends."""

from __future__ import annotations

import pytest

from nl2opt.llm.batch import BatchBackend
from nl2opt.llm.openai_backend import OpenAIBackend
from nl2opt.llm.replay import RecordingBackend, ReplayBackend
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.llm.spec import DEFAULT_MODEL, SCHEMES, default_spec, make_llm, parse_spec
from nl2opt.llm.types import LLMError


def test_openai_spec_with_a_colon_in_the_model():
    llm = make_llm("openai:qwen2.5:7b@http://localhost:11434/v1")
    assert isinstance(llm, OpenAIBackend)
    assert llm.model == "qwen2.5:7b" and llm.base_url == "http://localhost:11434/v1"


def test_openai_spec_splits_on_the_last_at(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = make_llm("openai:team@org/model@https://api.example.com/v1")
    assert llm.model == "team@org/model" and llm.base_url == "https://api.example.com/v1"
    assert llm.api_key == "EMPTY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert make_llm("openai:m@http://h:1/v1").api_key == "sk-test"


def test_openai_spec_without_url_uses_env_or_vllm_default(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert make_llm("openai:Qwen/Qwen3-8B").base_url == "http://localhost:8000/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gpu-box:9000/v1")
    assert make_llm("openai:Qwen/Qwen3-8B").base_url == "http://gpu-box:9000/v1"


def test_vllm_spec_with_engine_options():
    parsed = parse_spec("vllm:Qwen/Qwen3-8B?max_model_len=16384&gpu_memory_utilization=0.85"
                        "&enforce_eager=true&dtype=bfloat16")
    assert parsed.model == "Qwen/Qwen3-8B"
    assert parsed.options == {"max_model_len": 16384, "gpu_memory_utilization": 0.85,
                              "enforce_eager": True, "dtype": "bfloat16"}


def test_batch_spec_model_after_hash(tmp_path):
    llm = make_llm(f"batch:{tmp_path}#Qwen/Qwen3-14B")
    assert isinstance(llm, BatchBackend)
    assert llm.directory == tmp_path and llm.model == "Qwen/Qwen3-14B"
    assert make_llm(f"batch:{tmp_path}").model == DEFAULT_MODEL


def test_record_and_replay_specs(tmp_path):
    path = tmp_path / "llm.jsonl"
    recorder = make_llm(f"record:{path}=openai:qwen2.5:7b@http://localhost:11434/v1")
    assert isinstance(recorder, RecordingBackend) and recorder.path == path
    assert isinstance(recorder.inner, OpenAIBackend) and recorder.model == "qwen2.5:7b"
    path.write_text("")
    assert isinstance(make_llm(f"replay:{path}"), ReplayBackend)


def test_backend_objects_pass_through():
    scripted = ScriptedBackend(["{}"])
    assert make_llm(scripted) is scripted
    with pytest.raises(LLMError, match="cannot use"):
        make_llm(42)  # type: ignore[arg-type]


def test_env_and_default(monkeypatch):
    monkeypatch.delenv("NL2OPT_LLM", raising=False)
    assert default_spec() == f"vllm:{DEFAULT_MODEL}"
    monkeypatch.setenv("NL2OPT_LLM", "openai:m@http://127.0.0.1:1/v1")
    llm = make_llm(None)
    assert isinstance(llm, OpenAIBackend) and llm.model == "m"


@pytest.mark.parametrize("spec", ["ollama:llama3", "qwen", "openai:", "openai:m@localhost:1",
                                  "record:x.jsonl", "vllm:m?bad"])
def test_bad_specs_list_the_valid_schemes(spec):
    with pytest.raises(LLMError) as caught:
        parse_spec(spec)
    assert all(scheme in caught.value.hint for scheme in SCHEMES)
    assert spec in str(caught.value)
