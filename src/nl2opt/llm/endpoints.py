"""One model behind several OpenAI-compatible servers, e.g. one `vllm serve` per node of a
cluster: ``openai:MODEL@URL1,URL2,...``.

Each endpoint is an `OpenAIBackend` with its own concurrency limit, retries with
backoff and structured-output fallback. The requests of a call wait in one queue
and every endpoint takes the next as soon as it has a free slot, so a faster
server takes more of them. An endpoint that still fails with a retryable error
after its retries is left out for the rest of the call and the request goes back
to the queue for the others; only when every endpoint is out does the call fail
(retryable: the run stops and `--resume` continues it). A non-retryable error
belongs to its request and fails the call, as with a single endpoint.

The requests are sent from this process: the servers do the work, and one event
loop keeps hundreds of requests in flight.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from nl2opt.llm.openai_backend import OpenAIBackend, run_sync
from nl2opt.llm.types import LLMError, LLMRequest, LLMResponse


class EndpointsBackend:
    """Chat completions spread over several servers of the same model."""

    name = "openai"

    def __init__(self, model: str, base_urls: list[str], **options: Any) -> None:
        if not base_urls:
            raise LLMError("no endpoint given", hint="use openai:MODEL@URL1,URL2")
        self.model = model
        self.endpoints = [OpenAIBackend(model, url, **options) for url in base_urls]

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """One list of `request.n` responses per request, in order."""
        if not requests:
            return []
        return run_sync(lambda: self.agenerate(requests))

    async def agenerate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        """The async form of `generate`."""
        spread = _Spread(requests, len(self.endpoints))
        async with AsyncExitStack() as stack:
            asks = [await stack.enter_async_context(endpoint.session())
                    for endpoint in self.endpoints]
            workers = [asyncio.create_task(spread.work(number, ask))
                       for number, (endpoint, ask) in enumerate(zip(self.endpoints, asks))
                       for _ in range(endpoint.max_concurrency)]
            await spread.finished()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return spread.answers(self.endpoints)


class _Spread:
    """The shared queue of one call, its answers, and the endpoints left out."""

    def __init__(self, requests: list[LLMRequest], endpoints: int) -> None:
        self.requests = requests
        self.endpoints = endpoints
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(requests)):
            self.queue.put_nowait(index)
        self.results: list[Any] = [None] * len(requests)
        self.out: dict[int, LLMError] = {}
        self.all_out = asyncio.Event()

    async def work(self, endpoint: int, ask: Any) -> None:
        """Answer requests from the queue on `endpoint` until it is left out."""
        while True:
            index = await self.queue.get()
            try:
                if endpoint in self.out:
                    self.queue.put_nowait(index)  # for an endpoint still in
                    return
                self.results[index] = await ask(self.requests[index])
            except LLMError as error:
                if not error.retryable:
                    self.results[index] = error
                    continue
                self.out[endpoint] = error
                self.queue.put_nowait(index)  # before task_done, so the queue never looks done
                if len(self.out) == self.endpoints:
                    self.all_out.set()
            except Exception as error:  # noqa: BLE001 - reported with its request
                self.results[index] = error
            finally:
                self.queue.task_done()

    async def finished(self) -> None:
        """Every request answered, or every endpoint out."""
        done = asyncio.create_task(self.queue.join())
        out = asyncio.create_task(self.all_out.wait())
        await asyncio.wait([done, out], return_when=asyncio.FIRST_COMPLETED)
        done.cancel()
        out.cancel()

    def answers(self, endpoints: list[OpenAIBackend]) -> list[list[LLMResponse]]:
        if self.all_out.is_set():
            reasons = "; ".join(f"{endpoints[k].base_url}: {error}"
                                for k, error in sorted(self.out.items()))
            raise LLMError(f"none of the {len(endpoints)} LLM endpoints answered ({reasons})",
                           retryable=True, hint="are the servers running? Continue with "
                                                "--resume once they are")
        for result in self.results:
            if isinstance(result, BaseException):
                raise result
        return self.results
