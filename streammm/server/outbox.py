"""One socket's outgoing events: a queue bounded in bytes, drained by one sender that gives up on a slow reader.

Nothing that produces events ever waits on the network. An ask's events wait for room in the queue
(`put`: backpressure on that ask alone); a watch match never waits (`offer`): a socket whose queue is full
is too slow, and so is one that takes longer than the send timeout to take a single event. Either way the
outbox stops with the reason, and the connection closes the socket and drops its watches.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

SendText = Callable[[str], Awaitable[None]]


class Outbox:
    def __init__(self, max_bytes: int, send_timeout_s: float) -> None:
        self.max_bytes = max_bytes
        self.send_timeout_s = send_timeout_s
        self.queued_bytes = 0
        self.stopped: str | None = None  # why the outbox stopped (the socket is too slow), once it has
        self._queue: deque[str] = deque()
        self._changed = asyncio.Event()  # set when an event is queued, taken, or the outbox stops
        self._stopped = asyncio.Event()

    def offer(self, text: str) -> bool:
        """Queue `text` without waiting. False when the outbox has stopped; a full queue stops it."""
        if self.stopped is not None:
            return False
        if self._queue and self.queued_bytes + len(text) > self.max_bytes:
            self.stop(f"too slow: more than {self.max_bytes // 1024} KB of events waited to be read")
            return False
        self._queue.append(text)
        self.queued_bytes += len(text)
        self._changed.set()
        return True

    async def put(self, text: str) -> bool:
        """Queue `text`, waiting while the queue is full (an event larger than the bound goes alone).
        False when the outbox has stopped."""
        while self.stopped is None and self._queue and self.queued_bytes + len(text) > self.max_bytes:
            self._changed.clear()
            await self._changed.wait()
        return self.offer(text)

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            self._queue.clear()
            self.queued_bytes = 0
        self._changed.set()
        self._stopped.set()

    async def wait_stopped(self) -> str:
        """Why the outbox stopped, once it has (a send in progress may still be blocked: cancel the drain)."""
        await self._stopped.wait()
        assert self.stopped is not None
        return self.stopped

    async def drain(self, send_text: SendText) -> str:
        """Send queued events in order until the outbox stops; returns why it stopped."""
        while self.stopped is None:
            if not self._queue:
                self._changed.clear()
                await self._changed.wait()
                continue
            text = self._queue[0]
            try:
                await asyncio.wait_for(send_text(text), self.send_timeout_s)
            except TimeoutError:
                self.stop(f"too slow: one event waited more than {self.send_timeout_s:g} s to be read")
                break
            if self.stopped is not None:
                break
            self._queue.popleft()
            self.queued_bytes -= len(text)
            self._changed.set()  # room for a waiting `put`
        assert self.stopped is not None
        return self.stopped
