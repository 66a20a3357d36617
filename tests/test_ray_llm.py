"""The LLM stage for clusters: vLLM through Ray Data (`ray.data.llm`, faked here: no Ray,
vLLM or GPU needed, plus one real test that skips without them) and one model served at
several OpenAI-compatible endpoints (real HTTP servers)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
from llm_server import ChatServer, Reply
from test_eval_runner import (
    PROBLEMS,
    QuestionBackend,
    by_uid,
    cli_app,
    config,
    keyword_of,
    round_of,
    scripted_reply,
    write_dataset,
)
from typer.testing import CliRunner

from nl2opt.cluster.runtime import check_memory, cluster_llm, default_batch_size, vllm_replicas
from nl2opt.cluster.session import ClusterError, ClusterInfo, check_address, init_kwargs
from nl2opt.datasets import load_dataset
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.llm.endpoints import EndpointsBackend
from nl2opt.llm.ray_vllm import ERROR_COLUMN, RayVllmBackend, request_rows
from nl2opt.llm.spec import make_llm, parse_spec
from nl2opt.llm.types import LLMError, LLMRequest, Message, Sampling

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def request(text="hello", n=1, seed=None, max_tokens=512, schema=SCHEMA):
    return LLMRequest(messages=[Message(role="system", content="sys"),
                                Message(role="user", content=text)],
                      json_schema=schema, n=n,
                      sampling=Sampling(temperature=0.7, max_tokens=max_tokens, seed=seed))


# -- a fake ray.data / ray.data.llm that records what it is given --------------------

class FakeDataset:
    def __init__(self, rows):
        self.rows = rows

    def take_all(self):
        return list(self.rows)


class FakeRayData:
    def __init__(self):
        self.given = []

    def from_items(self, rows):
        self.given.append(rows)
        return FakeDataset(rows)


class FakeRayDataLLM:
    """`vLLMEngineProcessorConfig` and `build_processor`; the "engine" answers with `answer`
    (text per engine row), or fails rows whose last message contains FAIL."""

    def __init__(self, answer=None, tokens=3, broken=None):
        self.configs, self.builds, self.engine_rows = [], [], []
        self.answer = answer or (lambda row: json.dumps({"x": len(row["messages"][-1]
                                                                   ["content"])}))
        self.tokens, self.broken = tokens, broken

    def vLLMEngineProcessorConfig(self, **kwargs):  # Ray's class name
        self.configs.append(kwargs)
        return SimpleNamespace(**kwargs)

    def build_processor(self, config, preprocess=None, postprocess=None, builder_kwargs=None):
        self.builds.append({"config": config, "builder_kwargs": builder_kwargs})

        def processor(dataset):
            if self.broken is not None:
                raise self.broken
            return FakeDataset([self._run(row, preprocess, postprocess)
                                for row in dataset.rows])
        return processor

    def _run(self, row, preprocess, postprocess):
        engine_row = {**row, **preprocess(row)}  # Ray carries every column along
        self.engine_rows.append(engine_row)
        if "FAIL" in engine_row["messages"][-1]["content"]:
            return {**engine_row, ERROR_COLUMN: "prompt too long"}  # skips postprocess
        return postprocess({**engine_row, "generated_text": self.answer(engine_row),
                            "num_input_tokens": 17, "num_generated_tokens": self.tokens})


def ray_backend(llm_module=None, **kwargs):
    data = FakeRayData()
    llm_module = llm_module or FakeRayDataLLM()
    backend = RayVllmBackend("Qwen/Qwen3-8B", data_module=data, llm_module=llm_module,
                             **kwargs)
    return backend, data, llm_module


def test_requests_reach_the_processor_with_the_schema_and_replicas():
    backend, data, fake = ray_backend(replicas=3, max_model_len=8192)
    answers = backend.generate([request("ab"), request("abcd", n=2, seed=5)])
    [config] = fake.configs
    assert config["model_source"] == "Qwen/Qwen3-8B" and config["concurrency"] == 3
    assert config["engine_kwargs"] == {"max_model_len": 8192}
    assert config["should_continue_on_error"] is True and config["batch_size"] >= 1
    assert fake.builds[0]["builder_kwargs"] == {"chat_template_kwargs":
                                                {"enable_thinking": False}}
    # n=2 becomes two rows of one sample, the fixed seed shifted so they differ.
    params = [row["sampling_params"] for row in fake.engine_rows]
    assert [(p["n"], p["seed"]) for p in params] == [(1, None), (1, 5), (1, 6)]
    assert all(json.loads(p["structured_outputs"]["json"]) == SCHEMA for p in params)
    assert (params[0]["temperature"], params[0]["max_tokens"]) == (0.7, 512)
    assert fake.engine_rows[1]["messages"] == [{"role": "system", "content": "sys"},
                                               {"role": "user", "content": "abcd"}]
    assert len(data.given) == 1 and all(set(row) == {"request", "sample", "payload"}
                                        for row in data.given[0])
    assert [[r.parsed for r in a] for a in answers] == [[{"x": 2}], [{"x": 4}, {"x": 4}]]
    first, second = answers[1]
    assert (first.usage.prompt_tokens, second.usage.prompt_tokens) == (17, 0)
    assert first.usage.completion_tokens == 3 and first.finish_reason == "stop"


def test_a_reply_that_used_every_token_was_cut_off():
    backend, _, _ = ray_backend(llm_module=FakeRayDataLLM(tokens=512))
    [[response]] = backend.generate([request(max_tokens=512)])
    assert response.finish_reason == "length"


def test_a_failed_row_fails_its_request_alone_without_another_pipeline():
    backend, data, _ = ray_backend()
    good, bad = request("fine"), request("FAIL this one")
    with pytest.raises(LLMError, match="prompt too long"):
        backend.generate([good, bad])
    # The runner then asks one request at a time: answers come from the failed batch.
    assert backend.generate([good])[0][0].parsed == {"x": 4}
    with pytest.raises(LLMError, match="prompt too long") as caught:
        backend.generate([bad])
    assert not caught.value.retryable and len(data.given) == 1
    backend.generate([good])  # delivered before: asked again, it is a new pipeline
    assert len(data.given) == 2


def test_pipeline_failures_fail_every_request_and_lost_nodes_are_retryable():
    class ActorDiedError(Exception):  # what Ray raises when a replica dies
        pass

    backend, _, _ = ray_backend(llm_module=FakeRayDataLLM(broken=RuntimeError("no such model")))
    with pytest.raises(LLMError, match="no such model") as caught:
        backend.generate([request("a"), request("b")])
    assert not caught.value.retryable and "max_model_len" in caught.value.hint
    backend, _, _ = ray_backend(llm_module=FakeRayDataLLM(broken=ActorDiedError("gone")))
    with pytest.raises(LLMError) as caught:
        backend.generate([request("a")])
    assert caught.value.retryable and "--resume" in caught.value.hint


def test_rows_carry_only_json_text_so_arrow_never_reshapes_the_schema():
    rows = request_rows([request(schema={"anyOf": [{"type": "integer"}, {"type": "null"}]})])
    assert json.loads(rows[0]["payload"])["sampling_params"]["structured_outputs"] == {
        "json": json.dumps({"anyOf": [{"type": "integer"}, {"type": "null"}]})}


def test_an_evaluation_through_ray_data_gives_the_same_records(tmp_path):
    """The whole runner with the Ray Data backend: the fake engine answers what the
    question-keyed fake LLM answers, so the records must be the same."""
    dataset = load_dataset(write_dataset(tmp_path / "toy.jsonl"))

    def answer(row):  # QuestionBackend's answer to this sample
        text = row["messages"][-1]["content"]
        return scripted_reply(keyword_of(text), round_of(text) + row["sample"])

    fake = FakeRayDataLLM(answer=answer)
    backend, _, _ = ray_backend(llm_module=fake, replicas=2)
    on_ray = run_evaluation(dataset, backend, config(samples=2), tmp_path / "ray")
    local_llm = QuestionBackend()
    local = run_evaluation(dataset, local_llm, config(samples=2), tmp_path / "local")
    assert len(on_ray) == len(PROBLEMS)
    stable = {r.uid: r.stable() for r in local}
    for record in on_ray:  # token counts differ: the fake engine reports its own
        assert {k: v for k, v in record.stable().items() if "tokens" not in k} == {
            k: v for k, v in stable[record.uid].items() if "tokens" not in k}
    assert len(fake.builds) == len(local_llm.calls)  # one pipeline per batch of requests
    assert by_uid(on_ray)["toy/fence"].correct


def test_missing_ray_data_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.data.llm", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(LLMError) as caught:
        RayVllmBackend("Qwen/Qwen3-8B")
    assert "nl2opt[ray-vllm]" in caught.value.hint


def _real_reason() -> str | None:
    for module in ("vllm", "torch", "ray"):
        if importlib.util.find_spec(module) is None:
            return f"needs vLLM, Ray Data and an NVIDIA GPU ({module} is not installed)"
    import torch

    if not torch.cuda.is_available():
        return "needs vLLM, Ray Data and an NVIDIA GPU (no CUDA device visible)"
    return None


@pytest.mark.skipif(_real_reason() is not None, reason=_real_reason() or "")
def test_real_vllm_on_ray_follows_the_schema():
    import ray

    ray.init(address="local", include_dashboard=False)
    try:
        llm = RayVllmBackend("Qwen/Qwen2.5-0.5B-Instruct", max_model_len=2048,
                             gpu_memory_utilization=0.5)
        [[response]] = llm.generate([request("Give x as the number 3, in JSON.")])
    finally:
        ray.shutdown()
    assert isinstance(response.parsed, dict) and isinstance(response.parsed.get("x"), int)


# -- several OpenAI-compatible endpoints ----------------------------------------------

def test_spec_with_several_urls_spreads_over_endpoints():
    spec = "openai:Qwen/Qwen3-8B@http://node1:8000/v1,http://node2:8000/v1"
    assert parse_spec(spec).base_url == "http://node1:8000/v1,http://node2:8000/v1"
    backend = make_llm(spec)
    assert isinstance(backend, EndpointsBackend) and backend.name == "openai"
    assert [e.base_url for e in backend.endpoints] == ["http://node1:8000/v1",
                                                       "http://node2:8000/v1"]
    with pytest.raises(LLMError, match="several"):
        parse_spec("openai:m@http://node1:8000/v1,node2:8000")


def answer_with_content(body):
    return {"x": len(body["messages"][-1]["content"])}


def test_requests_are_shared_by_the_endpoints_and_come_back_in_order():
    with ChatServer(answer_with_content) as one, ChatServer(answer_with_content) as two:
        backend = EndpointsBackend("m", [one.base_url, two.base_url], max_concurrency=2)
        texts = ["a" * k for k in range(1, 21)]
        answers = backend.generate([request(text) for text in texts])
    assert [a[0].parsed["x"] for a in answers] == list(range(1, 21))
    assert len(one.requests) + len(two.requests) == 20
    assert one.requests and two.requests


def free_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"  # nobody listens there now


def test_a_dead_endpoint_leaves_its_requests_to_the_others():
    with ChatServer(answer_with_content) as alive:
        backend = EndpointsBackend("m", [free_port_url(), alive.base_url], retries=1,
                                   backoff_base=0.01, backoff_cap=0.02)
        answers = backend.generate([request("a" * k) for k in range(1, 9)])
    assert [a[0].parsed["x"] for a in answers] == list(range(1, 9))
    assert len(alive.requests) == 8


def test_when_every_endpoint_is_down_the_call_fails_retryably():
    backend = EndpointsBackend("m", [free_port_url(), free_port_url()], retries=0)
    with pytest.raises(LLMError, match="none of the 2 LLM endpoints answered") as caught:
        backend.generate([request("a"), request("b")])
    assert caught.value.retryable


def test_a_refused_request_fails_alone_and_is_not_moved():
    def reply(body):
        if "bad" in body["messages"][-1]["content"]:
            return Reply(status=400, error="context length exceeded")
        return answer_with_content(body)

    with ChatServer(reply) as one, ChatServer(reply) as two:
        backend = EndpointsBackend("m", [one.base_url, two.base_url])
        with pytest.raises(LLMError, match="refused") as caught:
            backend.generate([request("good"), request("bad")])
        assert not caught.value.retryable
        assert len(one.requests) + len(two.requests) == 2  # no endpoint was left out


def test_importing_nl2opt_and_its_cli_never_imports_ray():
    code = ("import sys, nl2opt, nl2opt.cli, nl2opt.cluster.runtime, nl2opt.llm.spec; "
            "print([m for m in sys.modules if m == 'ray' or m.startswith('ray.')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


# -- choosing the backends for a cluster (no Ray needed) ------------------------------

GPU_CLUSTER = ClusterInfo(address="10.0.0.1:6379", dashboard_url=None, nodes=2, cpus=32,
                          gpus=4, largest_node_memory_mb=64_000)


def test_vllm_replicas_fill_the_gpus_or_say_why_not():
    assert vllm_replicas(parse_spec("vllm:m"), GPU_CLUSTER, None) == 4
    assert vllm_replicas(parse_spec("vllm:m?tensor_parallel_size=2"), GPU_CLUSTER, None) == 2
    assert vllm_replicas(parse_spec("vllm:m"), GPU_CLUSTER, 3) == 3
    with pytest.raises(ClusterError, match="2 replica\\(s\\) fit, not 3"):
        vllm_replicas(parse_spec("vllm:m?tensor_parallel_size=2"), GPU_CLUSTER, 3)
    no_gpu = ClusterInfo("a:1", None, 1, 2, 0, 8000)
    with pytest.raises(ClusterError, match="openai:MODEL@URL1,URL2"):
        cluster_llm("vllm:m", no_gpu)


def test_other_specs_run_on_a_cluster_as_on_one_machine(tmp_path):
    backend = cluster_llm("openai:m@http://a:8000/v1,http://b:8000/v1", GPU_CLUSTER)
    assert isinstance(backend, EndpointsBackend) and len(backend.endpoints) == 2
    assert cluster_llm("demo", GPU_CLUSTER).name == make_llm("demo").name


def test_cluster_addresses_and_memory_are_checked_before_any_work():
    assert check_address(" auto ") == "auto" and check_address("ray://head:10001")
    with pytest.raises(ClusterError, match="--ray local"):
        check_address("nl4opt")
    with pytest.raises(ClusterError, match="lower --memory-mb"):
        check_memory(GPU_CLUSTER, 100_000)
    assert init_kwargs("local", 4) == {"address": "local", "num_cpus": 4}
    assert init_kwargs("auto", 4) == {"address": "auto"}  # a running cluster has its CPUs


def test_eval_on_ray_without_ray_installed_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    dataset_path = write_dataset(tmp_path / "toy.jsonl", ["juice"])
    result = CliRunner().invoke(cli_app(), ["eval", str(dataset_path), "--llm", "demo",
                                            "--ray", "local", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "pip install 'nl2opt[ray]'" in result.output


def test_vllm_on_ray_batches_more_items_per_model_load():
    assert default_batch_size("vllm:Qwen/Qwen3-8B", "auto") == 1024
    assert default_batch_size("record:a.jsonl=vllm:Qwen/Qwen3-8B", "auto") == 1024
    assert default_batch_size("vllm:Qwen/Qwen3-8B", None) == 64
    assert default_batch_size("openai:m@http://a/v1,http://b/v1", "auto") == 64
    assert default_batch_size("demo", "local") == 64
