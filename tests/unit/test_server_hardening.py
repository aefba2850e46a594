"""The server under a hostile or careless client (issue 11): slow readers, connection and watch caps, bodies
that never end, tokens for /metrics, refusing an open server, bad values that must be a 400 not a 500.

Sockets here are in-memory stand-ins whose `send_text` can block forever (a client that never reads); the
real-socket versions of these cases run in tests/integration/test_server_soak.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from starlette.requests import Request
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from streammm.config import AuthConfig, load_settings
from streammm.errors import ConfigError
from streammm.records import Clip
from streammm.server.app import create_app
from streammm.server.auth import Authenticator
from streammm.server.outbox import Outbox
from streammm.server.protocol import RequestError
from streammm.server.routes import read_body
from streammm.server.ws import POLICY_VIOLATION, TRY_AGAIN_LATER, Connection

LOOPBACK = "http://127.0.0.1:8000"


def settings_with(**overrides):
    # Starlette's TestClient names its host "testserver" in websocket handshakes: served like a local name.
    return load_settings(env={}, overrides={"server.allowed_hosts": ["testserver"], **overrides})


class FixedEncoder:
    """Every text is the same unit vector: every clip along it matches every watch by vector."""

    dim = 3

    def encode(self, texts):
        return np.tile(np.array([1.0, 0.0, 0.0], np.float32), (len(texts), 1))


class NoStore:
    """These cases never reach the store."""


class FakeSocket:
    """A websocket: messages come from `inbox`; `stalled` sockets never take an event (a client that does not read)."""

    def __init__(self, stalled: bool = False) -> None:
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.sent: list[dict] = []
        self.stalled = stalled
        self.closed: tuple[int, str] | None = None
        self.got_event = asyncio.Event()

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await asyncio.Event().wait()  # never
        self.sent.append(json.loads(text))
        self.got_event.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    def say(self, message: dict) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})


def context(**server):
    settings = settings_with(**{f"server.{k}": v for k, v in server.items()})
    ctx = create_app(settings, NoStore(), FixedEncoder(), data_dir=Path("/nonexistent")).state.ctx  # type: ignore[arg-type]
    ctx.has_clip_feed = True  # the clips come from the test
    return ctx


def clip(n: int) -> Clip:
    return Clip(f"c{n}", "lobby", 2.0 * n, 2.0 * n + 4, "p", transcript="words " * 40, vectors={"joint": np.array([1.0, 0, 0], np.float32)})


async def until(condition, what: str, limit_s: float = 30.0) -> None:
    """Wait for `condition()`; the limit only stops a broken build from hanging, it is never the thing tested."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.005)


# --- the outbox -----------------------------------------------------------------------------------------


def test_the_outbox_is_bounded_in_bytes_a_watch_never_waits_and_an_ask_waits_for_room():
    async def scenario():
        outbox = Outbox(max_bytes=100, send_timeout_s=3600)
        assert outbox.offer("a" * 60) and outbox.queued_bytes == 60
        waiting = asyncio.create_task(outbox.put("b" * 60))  # an ask's event: waits for room
        await asyncio.sleep(0.01)
        assert not waiting.done() and outbox.queued_bytes == 60
        sent: list[str] = []

        async def take(text: str) -> None:
            sent.append(text)

        drainer = asyncio.create_task(outbox.drain(take))
        assert await waiting is True
        await until(lambda: len(sent) == 2, "both events sent")
        assert outbox.offer("c" * 100)
        await until(lambda: outbox.queued_bytes == 0, "the lone large event sent")
        outbox.stop("closed")
        assert await drainer == "closed" and not outbox.offer("d")

        full = Outbox(max_bytes=100, send_timeout_s=3600)  # nobody drains it: a socket that does not read
        assert full.offer("a" * 60) and not full.offer("b" * 60), "a watch's event never waits: the socket is too slow"
        assert full.stopped and full.stopped.startswith("too slow") and full.queued_bytes == 0

    asyncio.run(scenario())


def test_a_send_that_takes_longer_than_the_timeout_stops_the_outbox():
    async def scenario():
        outbox = Outbox(max_bytes=1000, send_timeout_s=0.05)
        outbox.offer("x")

        async def never(text: str) -> None:
            await asyncio.Event().wait()

        reason = await outbox.drain(never)
        assert "waited more than 0.05 s" in reason

    asyncio.run(scenario())


# --- slow sockets and caps, through the connection -----------------------------------------------------


def test_one_socket_that_never_reads_delays_no_other_watch_and_is_closed_when_it_falls_behind():
    async def scenario():
        ctx = context(max_queued_kb=16, send_timeout_s=3600)  # only falling behind can close it here
        slow, fast = FakeSocket(stalled=True), FakeSocket()
        runs = [asyncio.create_task(Connection(s, ctx, Authenticator(ctx.settings.auth, "127.0.0.1").access({}, {})).run()) for s in (slow, fast)]  # type: ignore[arg-type]
        slow.say({"type": "watch", "id": "w", "query": "lobby"})
        fast.say({"type": "watch", "id": "w", "query": "lobby"})
        await until(lambda: ctx.watches.count() == 2, "both watches set")
        n = 0
        while slow.closed is None:
            assert n < 500, "the slow socket was never closed"
            n += 1
            before = sum(e["type"] == "match" for e in fast.sent)
            await ctx.watches.on_clip(clip(n), 0.0)
            await until(lambda: sum(e["type"] == "match" for e in fast.sent) == before + 1, f"the fast socket's match for clip {n}")
            await asyncio.sleep(0)
        assert n > 5, "the slow socket had room for a few matches first"
        code, reason = slow.closed
        assert code == POLICY_VIOLATION and reason.startswith("too slow")
        await until(lambda: ctx.watches.count() == 1, "the slow socket's watch dropped")
        assert runs[0].done() and not runs[1].done()
        await ctx.watches.on_clip(clip(n + 1), 0.0)
        await until(lambda: sum(e["type"] == "match" for e in fast.sent) == n + 1, "the fast socket still matched")
        fast.inbox.put_nowait({"type": "websocket.disconnect"})
        await asyncio.gather(*runs)
        assert ctx.watches.count() == 0 and ctx.open_connections == 0

    asyncio.run(scenario())


def test_a_socket_that_takes_no_event_within_the_send_timeout_is_closed_and_its_watches_dropped():
    async def scenario():
        ctx = context(send_timeout_s=0.1)
        slow = FakeSocket(stalled=True)
        run = asyncio.create_task(Connection(slow, ctx, Authenticator(ctx.settings.auth, "127.0.0.1").access({}, {})).run())  # type: ignore[arg-type]
        slow.say({"type": "watch", "id": "w", "query": "lobby"})  # its `watching` event is never taken
        await run
        assert slow.closed is not None and slow.closed[0] == POLICY_VIOLATION and "0.1 s" in slow.closed[1]
        assert ctx.watches.count() == 0

    asyncio.run(scenario())


def test_the_server_takes_at_most_max_connections_sockets_and_max_watches_total():
    settings = settings_with(**{"server.max_connections": 2, "server.max_watches_total": 1})
    app = create_app(settings, NoStore(), FixedEncoder(), data_dir=Path("/nonexistent"), clip_feed=lambda stop: _no_clips(stop))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOOPBACK) as client:
        with client.websocket_connect("/v1/ws") as one, client.websocket_connect("/v1/ws") as two:
            one.send_json({"type": "watch", "id": "a", "query": "lobby"})
            assert one.receive_json()["type"] == "watching"
            two.send_json({"type": "watch", "id": "b", "query": "lobby"})
            refused = two.receive_json()
            assert refused["code"] == "too_many_requests" and "max_watches_total" in refused["message"]
            with client.websocket_connect("/v1/ws") as three:
                with pytest.raises(WebSocketDisconnect) as caught:
                    three.receive_json()
                assert caught.value.code == TRY_AGAIN_LATER and "max_connections" in caught.value.reason
        with client.websocket_connect("/v1/ws") as again:  # the others closed: room again
            again.send_json({"type": "cancel", "id": "nothing"})
            assert again.receive_json()["code"] == "unknown_id"


async def _no_clips(stop: asyncio.Event):
    await stop.wait()
    return
    yield


# --- bodies, tokens, exposure, bad values --------------------------------------------------------------


def test_a_chunked_body_without_length_is_refused_as_soon_as_it_passes_the_limit():
    async def scenario():
        taken = 0

        async def receive():
            nonlocal taken
            taken += 1
            return {"type": "http.request", "body": b"x" * 1024, "more_body": taken < 100_000}  # 100 MB if read whole

        request = Request({"type": "http", "method": "POST", "headers": [(b"transfer-encoding", b"chunked")]}, receive)
        with pytest.raises(RequestError) as caught:
            await read_body(request, limit_kb=64)
        assert caught.value.status == 413 and caught.value.code == "too_large"
        assert taken == 65, "read one chunk past the limit, then stopped"

    asyncio.run(scenario())


def test_metrics_need_a_token_when_auth_is_on_and_the_metrics_token_reads_nothing_else():
    tokens = [{"token": "viewer-token-1", "name": "viewer"}]
    settings = settings_with(**{"auth.enabled": True, "auth.tokens": tokens, "auth.metrics_token": "scraper-token-1"})

    class CountingStore:
        def count(self, where=None):
            return 0

    with TestClient(create_app(settings, CountingStore(), FixedEncoder(), data_dir=Path("/nonexistent")), base_url=LOOPBACK) as client:  # type: ignore[arg-type]
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-1"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scraper-token-1"}).status_code == 200
        assert client.get("/metrics", headers={"Authorization": "Bearer viewer-token-1"}).status_code == 200
        assert client.get("/v1/streams", headers={"Authorization": "Bearer scraper-token-1"}).status_code == 401


def test_auth_off_beyond_loopback_is_refused_unless_insecure_and_then_warned_about(caplog):
    with pytest.raises(ConfigError, match="--insecure"):
        Authenticator(AuthConfig(enabled=False), "0.0.0.0")
    with caplog.at_level(logging.WARNING, logger="streammm.server.auth"):
        assert not Authenticator(AuthConfig(enabled=False), "0.0.0.0", insecure=True).enabled
    assert "beyond loopback" in caplog.text
    env = {"STREAMMM_AUTH__ENABLED": "false", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "streammm", "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", "/nonexistent"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2 and "--insecure" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "raw, code",
    [
        ("[" * 30_000, "bad_json"),
        ('{"type": "ask", "id": "a", "question": "q", "time_range": [0, Infinity]}', "bad_request"),
        ('{"type": "ask", "id": "a", "question": "q", "time_range": [NaN, 1]}', "bad_request"),
        ('{"type": "ask", "id": "a", "question": "q", "k": "5"}', "bad_request"),
        ('{"type": "ask", "id": "a", "question": "q", "k": true}', "bad_request"),
        ('{"type": "ask", "id": "a", "question": "q", "k": 5.0}', "bad_request"),
        ('{"type": "ask", "id": "a", "question": "q", "streams": [1]}', "bad_request"),
        ('{"type": "watch", "id": "a", "query": "q", "threshold": true}', "bad_request"),
    ],
)
def test_values_that_reached_the_store_or_crashed_the_parser_are_bad_requests(raw: str, code: str):
    settings = settings_with()
    with TestClient(create_app(settings, NoStore(), FixedEncoder(), data_dir=Path("/nonexistent")), base_url=LOOPBACK, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        with client.websocket_connect("/v1/ws") as ws:
            ws.send_text(raw)
            event = ws.receive_json()
            assert event["type"] == "error" and event["code"] == code, event
        if '"watch"' in raw:
            return
        body = raw.replace('"type": "ask", "id": "a", "question"', '"query"')
        response = client.post("/v1/search", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text


def test_an_internal_failure_sends_an_incident_id_never_the_exception_text():
    class BrokenStore:
        def __getattr__(self, name):
            def broken(*args, **kwargs):
                raise RuntimeError("secret internal path /srv/lancedb/clips.lance is corrupt")

            return broken

    settings = settings_with()
    with TestClient(create_app(settings, BrokenStore(), FixedEncoder(), data_dir=Path("/nonexistent")), base_url=LOOPBACK, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        response = client.post("/v1/search", json={"query": "anything"})
        assert response.status_code == 500 and response.json()["error"]["code"] == "internal"
        assert "secret" not in response.text and "logged as" in response.text
        with client.websocket_connect("/v1/ws") as ws:
            ws.send_json({"type": "ask", "id": "a", "question": "anything"})
            event = ws.receive_json()
            assert event["type"] == "error" and event["code"] == "internal" and "secret" not in event["message"]
            ws.send_json({"type": "cancel", "id": "still-open"})
            assert ws.receive_json()["code"] == "unknown_id"


def test_scoring_a_clip_against_every_watch_at_once_agrees_with_one_watch_at_a_time():
    from streammm.records import VECTOR_NAMES
    from streammm.server.auth import Access
    from streammm.server.watch import Watch, WatchRegistry, query_words

    def match(watch, clip):  # the rule as the module docstring states it, one watch at a time
        best = max((float(clip.vectors[n] @ watch.vector) for n in VECTOR_NAMES if n in clip.vectors), default=-1.0)
        if watch.words and watch.words <= query_words(f"{clip.transcript}\n{clip.ocr_text}"):
            return max(best, 0.0), "text"
        return (best, "vector") if best >= watch.threshold else None

    rng = np.random.default_rng(7)
    words = ["mirror", "displays", "lobby", "door", "red", "car", "the", "a"]

    def unit(v):
        return (v / np.linalg.norm(v)).astype(np.float32)

    registry = WatchRegistry()
    watches = []
    for i in range(300):
        query = " ".join(rng.choice(words, size=int(rng.integers(1, 4))))
        streams = None if i % 3 else ("lobby",)
        access = Access("all") if i % 5 else Access("a", frozenset({"stage"}))
        watch = Watch(f"socket-{i % 7}", f"w{i}", query, unit(rng.normal(size=8)), streams, access, float(rng.uniform(0.2, 0.9)), deliver=lambda e: True)
        registry.add(watch)
        watches.append(watch)
    for n in range(40):
        stream = ("lobby", "stage")[n % 2]
        vectors = {name: unit(rng.normal(size=8)) for name in ("visual", "speech", "joint") if rng.random() < 0.7}
        clip = Clip(f"c{n}", stream, 0.0, 4.0, "p", transcript=" ".join(rng.choice(words, size=5)), vectors=vectors)
        expected = {w.id: found for w in watches if w.wants(stream) and (found := match(w, clip))}
        got = {w.id: (score, by) for w, score, by in registry.matching(clip, registry.snapshot())}
        assert got.keys() == expected.keys() and all(got[i][1] == expected[i][1] for i in got)
        assert np.allclose([got[i][0] for i in got], [expected[i][0] for i in got], atol=1e-5)
