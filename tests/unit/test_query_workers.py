"""QueryWorkers: a fixed number of threads, retrieval before answers, cancellation that frees its place."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from streammm.server.workers import ANSWER, RETRIEVE, QueryWorkers


async def until(condition, timeout_s: float = 10.0) -> None:
    """Wait for a worker thread to get somewhere (polling: the thread runs outside the event loop)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the worker thread did not get there"
        await asyncio.sleep(0.005)


class Jobs:
    """A job that records its name when it starts and, for names in `held`, waits for `release`."""

    def __init__(self, *held: str) -> None:
        self.started: list[str] = []
        self.held = set(held)
        self.release = threading.Event()

    def __call__(self, name: str) -> str:
        self.started.append(name)
        if name in self.held:
            self.release.wait(10)
        return name


def test_waiting_retrieval_runs_before_waiting_answers_and_order_holds_within_a_priority() -> None:
    async def main() -> None:
        workers, job = QueryWorkers(1), Jobs("blocker")
        blocker = asyncio.create_task(workers.run(ANSWER, job, "blocker"))
        await until(lambda: job.started == ["blocker"])  # the only thread is busy from here on
        queued = [
            asyncio.create_task(workers.run(priority, job, name))
            for priority, name in ((ANSWER, "answer-1"), (RETRIEVE, "retrieve-1"), (ANSWER, "answer-2"), (RETRIEVE, "retrieve-2"))
        ]
        await until(lambda: workers.queued == 4)
        job.release.set()
        results = await asyncio.gather(blocker, *queued)
        assert results == ["blocker", "answer-1", "retrieve-1", "answer-2", "retrieve-2"]  # each caller gets its own result
        assert job.started == ["blocker", "retrieve-1", "retrieve-2", "answer-1", "answer-2"]
        workers.shutdown()

    asyncio.run(main())


def test_no_more_than_the_given_threads_run_at_once() -> None:
    async def main() -> int:
        workers = QueryWorkers(2)
        lock = threading.Lock()
        running = peak = 0

        def job() -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            threading.Event().wait(0.02)
            with lock:
                running -= 1

        await asyncio.gather(*(workers.run(RETRIEVE, job) for _ in range(12)))
        workers.shutdown()
        return peak

    assert asyncio.run(main()) == 2


def test_a_cancelled_waiting_call_never_runs_and_a_cancelled_running_one_frees_its_thread() -> None:
    async def main() -> None:
        workers, job = QueryWorkers(1), Jobs("slow")
        slow = asyncio.create_task(workers.run(RETRIEVE, job, "slow"))
        await until(lambda: job.started == ["slow"])
        waiting = asyncio.create_task(workers.run(RETRIEVE, job, "dropped"))
        await until(lambda: workers.queued == 1)
        waiting.cancel()
        slow.cancel()  # stops the wait; the thread finishes the job, then serves the next call
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with pytest.raises(asyncio.CancelledError):
            await slow
        job.release.set()
        assert await asyncio.wait_for(workers.run(ANSWER, job, "after"), 10) == "after"
        assert job.started == ["slow", "after"]
        workers.shutdown()

    asyncio.run(main())


def test_errors_reach_the_caller_and_the_thread_is_reused() -> None:
    async def main() -> str:
        workers = QueryWorkers(1)

        def fail() -> None:
            raise ValueError("bad vector")

        with pytest.raises(ValueError, match="bad vector"):
            await workers.run(RETRIEVE, fail)
        result = await asyncio.wait_for(workers.run(RETRIEVE, str.upper, "ok"), 5)
        workers.shutdown()
        return result

    assert asyncio.run(main()) == "OK"
