"""Hostile and heavy clients for the query benchmark and the soak test: a websocket that never reads, and the
cost of matching one stored clip against many watches."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from streammm.bench_corpus import TextPool, synthetic_clips
from streammm.measure import percentile


def summary_ms(values_s: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p99 and mean of durations in seconds, as milliseconds."""

    def ms(q: float) -> float | None:
        v = percentile(values_s, q)
        return None if v is None else round(1000 * v, 1)

    return {"n": len(values_s), "p50_ms": ms(50), "p99_ms": ms(99), "mean_ms": round(1000 * sum(values_s) / len(values_s), 1) if values_s else None}


def slow_reader(host: str, port: int, messages: Sequence[dict]) -> Any:
    """A websocket client that sends `messages` and then never reads a byte (a 4 KB receive buffer): the
    client that must not slow anyone else down. Returns its socket; close it when done."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET /v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    for message in messages:
        sock.sendall(_masked_text_frame(json.dumps(message).encode()))
    return sock


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    header = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


SLOW_READER_MESSAGES = [{"type": "watch", "id": "w", "query": "Mirror displays"}] + [
    {"type": "ask", "id": f"s{i}", "question": "what is shown on screen?", "k": 50} for i in range(8)
]


def watch_fanout(dim: int, counts: Sequence[int], pool: TextPool, clips: int = 50, seed: int = 0) -> list[dict[str, Any]]:
    """Time to score one stored clip against N watches (what the server does for every clip of a live
    stream), after the watch index is built; and the time to build that index once the watches change."""
    from streammm.server.auth import Access
    from streammm.server.watch import Watch, WatchRegistry

    rng = np.random.default_rng(seed)
    sample = synthetic_clips(clips, dim, pool, streams=4, seed=seed)
    rows = []
    for n in counts:
        registry = WatchRegistry()
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for i in range(n):
            query = pool.questions[i % len(pool.questions)]
            registry.add(Watch(f"socket-{i // 16}", f"w{i}", query, vectors[i], None, Access("all"), 0.5, deliver=lambda event: True))
        snapshot = registry.snapshot()
        began = time.perf_counter()
        registry.matching(sample[0], snapshot)
        build = time.perf_counter() - began
        times = []
        for clip in sample:
            began = time.perf_counter()
            registry.matching(clip, snapshot)
            times.append(time.perf_counter() - began)
        rows.append({"watches": n, "index_build_ms": round(build * 1000, 1), "per_clip": summary_ms(times)})
    return rows


