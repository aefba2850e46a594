"""RetrievalBatches: retrievals that wait for a query thread run together, each still gets its own answer or
error, and a cancelled one is left out. The service is a stand-in that records its batches (the real
moments_each is tested against the store in tests/integration/test_precise_moments.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streammm.errors import StoreError
from streammm.qa.service import SearchRequest
from streammm.server.batches import RetrievalBatches
from streammm.server.workers import RETRIEVE, QueryWorkers

from test_query_workers import until


class Service:
    """encode that fails the question "unreadable"; moments_each that answers each query with its own text,
    fails the query "bad" with its own error, and
    fails the whole batch when asked to (after answering its first query, with `fail_after_first`).
    `hold_after_second`, when given, is waited on after each batch's second answer."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_next_batch = False
        self.fail_after_first = False
        self.hold_after_second: threading.Event | None = None

    def encode(self, text):
        if text == "unreadable":
            raise ValueError(f"cannot encode {text}")
        return f"vector of {text}"

    def moments_each(self, queries, vectors):
        texts = [q.text for q in queries]
        assert list(vectors) == [f"vector of {t}" for t in texts]  # each question encoded before its batch
        self.batches.append(texts)
        if self.fail_next_batch:
            self.fail_next_batch = False
            raise RuntimeError("the batch broke")
        for i, t in enumerate(texts):
            yield i, StoreError(f"cannot search for {t}") if t == "bad" else [f"moment of {t}"]
            if i == 0 and self.fail_after_first:
                self.fail_after_first = False
                raise RuntimeError("the batch broke after its first answer")
            if i == 1 and self.hold_after_second is not None:
                assert self.hold_after_second.wait(10), "the test never let the batch go on"


async def queued(workers: QueryWorkers, batches: RetrievalBatches, texts) -> tuple[dict[str, asyncio.Task], threading.Event, list[asyncio.Task]]:
    """Retrievals of `texts`, each encoded and waiting for a batch: every query thread is held by a job until
    the event is set. (Each question is encoded on a turn of its own first; were the threads free as the
    encodes end, the first batch could start before the last question joined it.)"""
    release, encoded, started = threading.Event(), threading.Event(), []

    def hold(until_set: threading.Event) -> None:
        started.append(True)
        until_set.wait(10)

    holders = [asyncio.create_task(workers.run(RETRIEVE, hold, encoded)) for _ in range(workers.threads)]
    await until(lambda: len(started) == workers.threads)
    asks = {t: asyncio.create_task(batches.moments(SearchRequest(t))) for t in texts}
    await until(lambda: workers.queued == len(asks))  # their encodes wait
    holders += [asyncio.create_task(workers.run(RETRIEVE, hold, release)) for _ in range(workers.threads)]  # behind them
    await until(lambda: workers.queued == len(asks) + workers.threads)
    encoded.set()
    await until(lambda: len(started) == 2 * workers.threads and workers.queued == len(asks))  # encoded; each waits for a batch
    return asks, release, holders


def test_waiting_retrievals_run_together_and_each_gets_its_own_answer() -> None:
    async def main() -> None:
        workers, service = QueryWorkers(1), Service()
        batches = RetrievalBatches(workers, service, max_batch=8)
        asks, release, holders = await queued(workers, batches, [f"q{i}" for i in range(20)])
        release.set()
        answers = await asyncio.gather(*asks.values())
        assert answers == [[f"moment of q{i}"] for i in range(20)]
        assert service.batches == [[f"q{i}" for i in range(0, 8)], [f"q{i}" for i in range(8, 16)], ["q16", "q17", "q18", "q19"]]
        await asyncio.gather(*holders)
        workers.shutdown()

    asyncio.run(main())


def test_an_error_reaches_only_its_own_caller_and_a_broken_batch_reaches_every_caller_in_it() -> None:
    async def main() -> None:
        workers, service = QueryWorkers(1), Service()
        batches = RetrievalBatches(workers, service)
        results = await asyncio.gather(*(batches.moments(SearchRequest(t)) for t in ("a", "bad", "unreadable", "c")), return_exceptions=True)
        assert results[0] == ["moment of a"] and results[3] == ["moment of c"]
        assert isinstance(results[1], StoreError) and "cannot search for bad" in str(results[1])
        assert isinstance(results[2], ValueError) and "unreadable" not in sum(service.batches, [])  # failed alone, before any batch
        service.fail_next_batch = True
        broken, release, holders = await queued(workers, batches, ("d", "e"))  # both wait: one batch
        release.set()
        assert [type(r) for r in await asyncio.gather(*broken.values(), return_exceptions=True)] == [RuntimeError, RuntimeError]
        assert service.batches[-1] == ["d", "e"]
        assert await batches.moments(SearchRequest("f")) == ["moment of f"]  # and the next one works
        service.fail_after_first = True
        broken, release, holders2 = await queued(workers, batches, ("g", "h", "i"))
        release.set()
        results = await asyncio.gather(*broken.values(), return_exceptions=True)
        assert results[0] == ["moment of g"]  # answered before the batch broke: kept
        assert [type(r) for r in results[1:]] == [RuntimeError, RuntimeError]
        holders += holders2
        await asyncio.gather(*holders)
        workers.shutdown()

    asyncio.run(main())


def test_each_retrieval_of_a_batch_is_answered_as_soon_as_its_own_moments_are_ready() -> None:
    """The first two of a batch get their moments while the batch still works on the third: neither waits
    for the others' fits, nor for a thread of its own (the second's turn is queued behind the batch, and
    is given up). The stand-in holds the batch after its second answer until the test has seen both."""

    async def main() -> None:
        workers, service = QueryWorkers(1), Service()
        service.hold_after_second = threading.Event()
        batches = RetrievalBatches(workers, service)
        asks, release, holders = await queued(workers, batches, ("first", "second", "third"))
        release.set()
        assert await asyncio.wait_for(asks["first"], 10) == ["moment of first"]
        assert await asyncio.wait_for(asks["second"], 10) == ["moment of second"]
        assert not asks["third"].done()
        service.hold_after_second.set()
        assert await asks["third"] == ["moment of third"]
        assert service.batches == [["first", "second", "third"]]
        await asyncio.gather(*holders)
        assert workers.queued == 0
        workers.shutdown()

    asyncio.run(main())


def test_a_retrieval_cancelled_while_it_waits_is_left_out_of_its_batch() -> None:
    async def main() -> None:
        workers, service = QueryWorkers(1), Service()
        batches = RetrievalBatches(workers, service)
        asks, release, holders = await queued(workers, batches, ("first", "gone", "kept"))
        asks["gone"].cancel()
        release.set()
        assert await asks["first"] == ["moment of first"] and await asks["kept"] == ["moment of kept"]
        with pytest.raises(asyncio.CancelledError):
            await asks["gone"]
        assert service.batches == [["first", "kept"]]
        await asyncio.gather(*holders)
        workers.shutdown()

    asyncio.run(main())


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch must be positive"):
        RetrievalBatches(QueryWorkers(1), Service(), max_batch=0)
