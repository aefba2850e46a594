"""The threads that do a server's blocking query work, finding moments before writing answers.

Every ask needs two pieces of CPU work: retrieval (encode the question, search the store) and then the
answer. Given one thread per request, twenty clients would share the cores evenly, and each would wait for
everyone's answers before seeing its own moments. Here a fixed number of threads takes work from one
queue, retrieval (RETRIEVE) before answers (ANSWER), first come first served within a priority: under load,
moments come back in about one retrieval's time, and answers take the rest.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

RETRIEVE = 0
ANSWER = 1


def default_threads() -> int:
    return max(2, os.cpu_count() or 2)


class QueryWorkers:
    """`await workers.run(priority, fn, *args)` runs `fn(*args)` on one of `threads` threads.

    Work waits its turn in a priority queue on the event loop (not in the executor), so a retrieval that
    arrives while answers wait starts on the next free thread. Cancelling a waiting call drops it;
    cancelling a running one stops the wait, and its thread is free again when `fn` returns.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or default_threads()
        if self.threads < 1:
            raise ValueError(f"threads must be positive, got {threads}")
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="streammm-query")
        self._free = self.threads
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def queued(self) -> int:
        """Calls waiting for a thread (cancelled ones leave the queue lazily, so they are not counted)."""
        return sum(1 for _, _, turn in self._waiting if not turn.done())

    async def run(self, priority: int, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        await self._turn(priority)
        try:
            job = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        job.add_done_callback(lambda _: _soon(loop, self._release))
        return await asyncio.wrap_future(job)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _turn(self, priority: int) -> None:
        if self._free > 0:  # nobody waits while a thread is free: _release hands threads to waiters first
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the thread was handed over as we were cancelled
                self._release()
            raise

    def _release(self) -> None:
        """A thread is free: hand it to the first waiting call, or keep it."""
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


def _soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed: the server is gone, and its queue with it
        pass
