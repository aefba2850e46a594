"""QueryWorkers: a fixed number of threads, retrieval before answers, cancellation that frees its place."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streammm.server.workers import ANSWER, RETRIEVE, QueryWorkers


def run(coro):
    return asyncio.run(coro)


def test_waiting_retrieval_runs_before_waiting_answers_and_order_holds_within_a_priority() -> None:
    async def main() -> list[str]:
        workers = QueryWorkers(1)
        gate = threading.Event()
        started: list[str] = []

        def job(name: str) -> str:
            started.append(name)
            if name == "blocker":
                gate.wait(5)
            return name

        blocker = asyncio.create_task(workers.run(ANSWER, job, "blocker"))
        await asyncio.sleep(0.05)  # the only thread is busy from here on
        queued = [
            asyncio.create_task(workers.run(priority, job, name))
            for priority, name in ((ANSWER, "answer-1"), (RETRIEVE, "retrieve-1"), (ANSWER, "answer-2"), (RETRIEVE, "retrieve-2"))
        ]
        await asyncio.sleep(0.05)
        assert workers.queued == 4 and started == ["blocker"]
        gate.set()
        results = await asyncio.gather(blocker, *queued)
        assert results == ["blocker", "answer-1", "retrieve-1", "answer-2", "retrieve-2"]  # each caller gets its own result
        workers.shutdown()
        return started

    assert run(main()) == ["blocker", "retrieve-1", "retrieve-2", "answer-1", "answer-2"]


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

    assert run(main()) == 2


def test_a_cancelled_waiting_call_never_runs_and_a_cancelled_running_one_frees_its_thread() -> None:
    async def main() -> list[str]:
        workers = QueryWorkers(1)
        gate = threading.Event()
        ran: list[str] = []

        def job(name: str) -> str:
            ran.append(name)
            if name == "slow":
                gate.wait(5)
            return name

        slow = asyncio.create_task(workers.run(RETRIEVE, job, "slow"))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(workers.run(RETRIEVE, job, "dropped"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        slow.cancel()  # stops the wait; the thread finishes the job, then serves the next call
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with pytest.raises(asyncio.CancelledError):
            await slow
        gate.set()
        assert await asyncio.wait_for(workers.run(ANSWER, job, "after"), 5) == "after"
        workers.shutdown()
        return ran

    assert run(main()) == ["slow", "after"]


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

    assert run(main()) == "OK"
