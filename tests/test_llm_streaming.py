"""Streaming an OpenAI-compatible server's answer to the app (issue 15, item 6), through the
real HTTP client against the local test server."""

from __future__ import annotations

from llm_server import ChatServer, Reply

from nl2opt.llm.openai_backend import OpenAIBackend
from nl2opt.llm.streaming import StreamingBackend
from nl2opt.llm.types import LLMRequest, Message


def request(n: int = 1) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content="Say hello as JSON.")], n=n)


def test_a_single_answer_streams_piece_by_piece_and_ends_as_the_same_response():
    text = '{"greeting": "hello there, this is a longer answer"}'
    seen: list[str] = []
    with ChatServer([text]) as server:
        backend = StreamingBackend(OpenAIBackend("test-model", server.base_url), seen.append)
        (response,), = backend.generate([request()])
    assert server.requests[0]["stream"] is True and backend.streamed == 1
    assert len(seen) > 2 and seen[-1] == text and all(text.startswith(s) for s in seen)
    assert response.text == text and response.parsed == {
        "greeting": "hello there, this is a longer answer"}
    assert response.finish_reason == "stop" and response.usage.completion_tokens > 0


def test_several_samples_and_a_refused_stream_go_to_the_wrapped_backend():
    seen: list[str] = []
    with ChatServer([Reply(status=400, text="stream_options not supported"), "{}",
                     Reply(texts=["{}", "{}"])]) as server:
        backend = StreamingBackend(OpenAIBackend("test-model", server.base_url, retries=0),
                                   seen.append)
        assert backend.generate([request()])[0][0].text == "{}"  # the stream was refused
        assert len(backend.generate([request(n=2)])[0]) == 2
    assert backend.streamed == 0 and seen == []
    assert [bool(body.get("stream")) for body in server.requests] == [True, False, False]
