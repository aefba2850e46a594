"""A live source that accepts the connection and then sends nothing (or stops sending) is given up after
`read_timeout_s` and reconnected with backoff; ingest never hangs on it (issue 11, finding 5)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streammm.ingest.sources import live_segments
from streammm.media.synthetic import Case, write_case

TIMEOUT_S = 1.0
GENEROUS_S = 30.0  # far beyond what the timeout needs: the test fails only on a hang


class SilentServer:
    """Accepts every connection; sends `greeting` (maybe nothing) and then holds the socket open, silent."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            if self.greeting:
                conn.recv(4096)  # the request
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def consume(url: str, stop: threading.Event, got: list) -> threading.Thread:
    def run() -> None:
        for segment in live_segments(url, "cam", 2.0, stop, read_timeout_s=TIMEOUT_S, max_backoff_s=1.0):
            got.append(segment)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_source_that_accepts_and_sends_nothing_is_reconnected(silent: SilentServer):
    stop, got = threading.Event(), []
    thread = consume(f"http://127.0.0.1:{silent.port}/live.ts", stop, got)
    # A hang would leave one connection open for ever; giving up and retrying opens a second one.
    assert wait_for(lambda: len(silent.accepted) >= 2, GENEROUS_S), "ingest waited on the silent source instead of reconnecting"
    stop.set()
    thread.join(GENEROUS_S)
    assert not thread.is_alive(), "ingest did not stop"
    assert got == []


def test_a_source_that_stalls_mid_stream_is_reconnected_and_its_timeline_continues(tmp_path: Path):
    media = write_case(Case("live", "ts", "mpegts", "mpeg2video", None, duration_s=10.0), tmp_path)
    half = media.read_bytes()[: media.stat().st_size * 8 // 10 // 188 * 188]  # ~8 s, then silence
    server = SilentServer(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n" + half)
    stop, got = threading.Event(), []
    try:
        thread = consume(f"http://127.0.0.1:{server.port}/live.ts", stop, got)
        # Until the second connection has given a segment too (a second accepted connection alone may not
        # have been read yet when the first one's segments arrive).
        assert wait_for(lambda: len(server.accepted) >= 2 and len({s.run.started_at for s in got}) >= 2, GENEROUS_S), (
            f"{len(server.accepted)} connections, {len(got)} segments: the stalled read was not given up"
        )
        stop.set()
        thread.join(GENEROUS_S)
        assert not thread.is_alive()
    finally:
        server.close()
    runs = [[s for s in got if s.run.started_at == started] for started in sorted({s.run.started_at for s in got})]
    assert len(runs) >= 2, "each connection is a run of its own"
    for run in runs:  # numbered from 0 per connection, the last one marked (its windows and speech are flushed)
        assert [s.seq for s in run] == list(range(len(run)))
    assert all(run[-1].last for run in runs[:-1])
    assert all(b.start_s >= a.end_s - 1e-3 for a, b in zip(got, got[1:])), [(s.start_s, s.end_s) for s in got]
