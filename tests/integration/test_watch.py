"""A standing query on a live stream: `streammm up` (server inside) on a real Tansu broker; the watch is set
before `streammm publish` feeds display-dual-monitors.webm, and a match arrives for the moment the
"Mirror displays" box is ticked (25-29 s). Nothing is mocked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from conftest import streammm_env, wait_until_serving
from streammm.bus.broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def live_server(tmp_path: Path):
    broker = EmbeddedBroker(log_file=tmp_path / "broker.log").start()
    port = free_port()
    env = streammm_env(kafka__bootstrap_servers=broker.bootstrap_servers, kafka__partitions=2)
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streammm", "up", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/readyz", log, timeout_s=240, what="streammm up")
        yield port, env, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        broker.stop()


def test_a_watch_set_before_publishing_gets_the_mirror_displays_moment(live_server, media: Path, tmp_path: Path):
    port, env, log = live_server
    with connect(f"ws://127.0.0.1:{port}/v1/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "watch", "id": "mirror", "query": "Mirror displays"}))
        ws.send(json.dumps({"type": "watch", "id": "elsewhere", "query": "Mirror displays", "streams": ["another-stream"]}))
        assert {json.loads(ws.recv(timeout=30))["type"] for _ in range(2)} == {"watching"}

        publish = subprocess.run(
            [sys.executable, "-m", "streammm", "publish", str(media / "video" / "display-dual-monitors.webm"), "--stream", "screencast"],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert publish.returncode == 0, publish.stderr[-3000:]

        matches = []
        deadline = time.monotonic() + 420
        while not any(m["moment"]["start_s"] < 29.0 and m["moment"]["end_s"] > 25.0 for m in matches):
            assert time.monotonic() < deadline, f"no match over 25-29 s; matches: {[(m['moment']['start_s'], m['moment']['end_s']) for m in matches]}\n{log.read_text()[-3000:]}"
            try:
                event = json.loads(ws.recv(timeout=10))
            except TimeoutError:
                continue
            assert event["type"] == "match", event
            assert event["id"] == "mirror", "the watch on another stream matched nothing of this one"
            matches.append({**event, "heard_at": time.time()})
    for m in matches:
        assert m["moment"]["stream_id"] == "screencast"
        assert m["matched_by"] in ("text", "vector") and m["moment"]["clip_id"]
    delays = sorted(m["heard_at"] - m["stored_at"] for m in matches)
    print(f"\n{len(matches)} matches; stored -> match delay median {delays[len(delays) // 2]:.3f} s, max {delays[-1]:.3f} s")
