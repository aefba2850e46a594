"""Retrievals that wait for a query thread together run as one batch.

Under load, retrievals queue for the query threads (server/workers.py). A retrieval's fixed costs are
per call, not per question: a LanceDB query, a read of the winners' rows. So when a thread comes free, it
takes every retrieval waiting then (up to `max_batch`) and runs them as one QueryService.moments_each: one
store call for their rankings and one read of their winners, then each one's moments fitted and sent back
as soon as they are (its answer can start on another thread meanwhile). Measured at 100k clips (2 cores):
4 hybrid retrievals together cost ~22 ms of CPU each, against ~35 one at a time. A lone retrieval runs at
once, as before: nothing waits to fill a batch. Each question is encoded on a turn of its own before it
waits for a batch, so the encodes of retrievals that arrive together run on every thread at once rather
than one after another inside their batch (100k clips, 20 clients: `moments` p50 106-110 -> 92-94 ms).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

import numpy as np

from streammm.qa.moments import Moment
from streammm.qa.service import QueryService, SearchRequest
from streammm.server.workers import RETRIEVE, QueryWorkers

_Waiting = tuple[SearchRequest, "np.ndarray | None", "asyncio.Future[list[Moment]]"]


class RetrievalBatches:
    """`await batches.moments(query)`: what `await workers.run(RETRIEVE, service.moments, query)` returns or
    raises, with the retrievals waiting at the same time run together."""

    def __init__(self, workers: QueryWorkers, service: QueryService, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be positive, got {max_batch}")
        self.workers = workers
        self.service = service
        self.max_batch = max_batch
        self._waiting: deque[_Waiting] = deque()
        self._lock = threading.Lock()  # the event loop adds, query threads take

    async def moments(self, query: SearchRequest) -> list[Moment]:
        # The question is encoded on its own turn first: the encodes of the retrievals that wait together run
        # on every query thread at once, not one after another inside their batch.
        vector = None if query.streams == () else await self.workers.run(RETRIEVE, self.service.encode, query.text)
        future: asyncio.Future[list[Moment]] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.append((query, vector, future))
        # Each retrieval asks for a thread; whichever gets one first takes everything waiting. So this one's
        # answer may come from another thread's batch before its own turn: then the turn is given up (a
        # waiting call leaves the queue; one running finishes its batch for the others).
        turn = asyncio.ensure_future(self.workers.run(RETRIEVE, self._run_waiting))
        turn.add_done_callback(_observed)
        try:
            await asyncio.wait((turn, future), return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                await turn  # its batch answered every retrieval it took, this one too unless it was taken by another
            return await future
        finally:
            turn.cancel()  # no-op once run
            future.cancel()  # no-op once answered; a cancelled wait is skipped by the batch that takes it

    def _run_waiting(self) -> None:
        """On a query thread: the retrievals waiting now (up to max_batch), as one batch."""
        with self._lock:
            taken: list[_Waiting] = []
            while self._waiting and len(taken) < self.max_batch:
                item = self._waiting.popleft()
                if not item[2].done():  # cancelled meanwhile (its client left)
                    taken.append(item)
        if not taken:
            return
        unanswered = dict(enumerate(future for _, _, future in taken))
        try:
            # Each answer goes back as soon as its moments are fitted: the first of a batch does not wait
            # for the others' fits, and its answer can start on another thread meanwhile.
            for i, result in self.service.moments_each([query for query, _, _ in taken], [vector for _, vector, _ in taken]):
                _answer(unanswered.pop(i), result)
        except BaseException as exc:  # never leave a taken retrieval unanswered
            for future in unanswered.values():
                _answer(future, exc)


def _observed(turn: asyncio.Future[None]) -> None:
    """A turn given up may still fail (the server shutting down): that is not this retrieval's error."""
    if not turn.cancelled():
        turn.exception()


def _answer(future: asyncio.Future[list[Moment]], result: list[Moment] | BaseException) -> None:
    try:
        future.get_loop().call_soon_threadsafe(_settle, future, result)
    except RuntimeError:  # the loop is closed: the server is gone, and its waiters with it
        pass


def _settle(future: asyncio.Future[list[Moment]], result: list[Moment] | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
