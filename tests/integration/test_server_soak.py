"""A minute of a bad day for the server (issue 11), over real sockets against the real app in its own process:
200 sockets asking, 20 sockets that set a watch and ask but never read, 5 sockets sending oversize frames,
and one watcher that must still get every live match within 1 s of the clip being stored.

The server's memory must grow by less than 300 MB, /healthz must keep answering, the oversize frames must
close only their own sockets (1009), and the slow readers must be closed (1008) rather than buffered without
bound. The feed (soak_server.py) announces a new "Mirror displays" clip every second.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import streammm_env, wait_until_serving
from streammm.bench_load import SLOW_READER_MESSAGES, slow_reader
from streammm.bus.broker import free_port

pytestmark = pytest.mark.integration

SOAK_S = 60.0
ASKERS = 200
SLOW_READERS = 20
OVERSIZE_SENDERS = 5
QUESTIONS = [
    "when does the narrator say he was not an ill disposed young man?",
    "what command is typed in the terminal?",
    "a red motorcycle",
    "mirror displays",
    "a cat",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def soak_server(dev_data_dir: Path, tmp_path: Path):
    port = free_port()
    script = Path(__file__).with_name("soak_server.py")
    settings = ["server.send_timeout_s=3", "server.max_queued_kb=256", "server.max_in_flight=8"]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, str(script), str(dev_data_dir), str(port), *settings], stdout=out, stderr=subprocess.STDOUT, env=streammm_env())
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/healthz", log, timeout_s=180, what="the soak server")
        yield port, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def asker(url: str, n: int, until: float, answered: list[int], failures: list[str]) -> None:
    async with connect(url, open_timeout=60, max_size=2**22) as ws:
        turn = 0
        while time.monotonic() < until:
            request_id = f"a{n}-{turn}"
            await ws.send(json.dumps({"type": "ask", "id": request_id, "question": f"{QUESTIONS[(n + turn) % len(QUESTIONS)]} ({n}/{turn})"}))
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if event.get("id") != request_id:
                    continue
                if event["type"] == "error":
                    failures.append(f"{event['code']}: {event['message']}")
                    break
                if event["type"] == "answer.done":
                    answered.append(n)
                    break
            turn += 1


async def oversize_sender(url: str, until: float, closes: list[int]) -> None:
    while time.monotonic() < until:
        try:
            async with connect(url, open_timeout=60, max_size=2**22) as ws:
                await ws.send("x" * (15 * 1024 * 1024))  # far past server.max_message_kb
                await asyncio.wait_for(ws.recv(), 60)
        except ConnectionClosed as closed:
            closes.append(closed.rcvd.code if closed.rcvd else 1006)
        except (OSError, TimeoutError):
            closes.append(1006)
        await asyncio.sleep(1.0)


WATCHER = """
import json, sys, time
from websockets.sync.client import connect
url, seconds = sys.argv[1], float(sys.argv[2])
until = time.monotonic() + seconds
with connect(url, open_timeout=60) as ws:
    ws.send(json.dumps({"type": "watch", "id": "mirror", "query": "Mirror displays"}))
    while time.monotonic() < until:
        try:
            event = json.loads(ws.recv(timeout=1))
        except TimeoutError:
            continue
        if event["type"] == "match":
            print(time.time() - event["stored_at"], flush=True)
"""


async def watcher(url: str, seconds: float, delays: list[float]) -> None:
    """The watcher runs in a process of its own: the delays it sees are the server's, not this test's load."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", WATCHER, url, str(seconds), stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    delays.extend(float(line) for line in out.decode().split())


async def health(base: str, until: float, results: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while time.monotonic() < until:
            try:
                results.append((await http.get("/healthz")).status_code)
            except httpx.HTTPError:
                results.append(0)
            await asyncio.sleep(1.0)


def test_a_minute_of_slow_readers_oversize_frames_and_200_askers_leaves_the_server_healthy_and_watches_fresh(soak_server):
    port, process, log = soak_server
    url = f"ws://127.0.0.1:{port}/v1/ws"
    rss_before = rss_mb(process.pid)
    answered: list[int] = []
    failures: list[str] = []
    delays: list[float] = []
    closes: list[int] = []
    healthz: list[int] = []
    peak = [rss_before]
    slow = [slow_reader("127.0.0.1", port, SLOW_READER_MESSAGES) for _ in range(SLOW_READERS)]

    async def sample_memory(until: float) -> None:
        while time.monotonic() < until:
            peak.append(rss_mb(process.pid))
            await asyncio.sleep(0.5)

    async def soak() -> None:
        until = time.monotonic() + SOAK_S
        await asyncio.gather(
            watcher(url, SOAK_S, delays),
            health(f"http://127.0.0.1:{port}", until, healthz),
            sample_memory(until),
            *(oversize_sender(url, until, closes) for _ in range(OVERSIZE_SENDERS)),
            *(asker(url, n, until, answered, failures) for n in range(ASKERS)),
        )

    try:
        asyncio.run(soak())
        closed_slow = sum(1 for s in slow if _closed_by_server(s))
    finally:
        for s in slow:
            s.close()
    growth = max(peak) - rss_before
    print(f"soak: {len(answered)} asks answered by {len(set(answered))} sockets, {len(failures)} errors; watch delays max "
          f"{max(delays, default=0):.3f} s over {len(delays)} matches; RSS {rss_before:.0f} MB -> peak {max(peak):.0f} MB; "
          f"oversize closes {sorted(set(closes))}; slow readers closed {closed_slow}/{SLOW_READERS}")
    assert process.poll() is None, log.read_text()[-3000:]
    assert not failures, failures[:5]
    assert len(set(answered)) == ASKERS, "every asking socket was answered at least once"
    assert healthz and all(code == 200 for code in healthz), healthz
    assert len(delays) >= SOAK_S / 2 and max(delays) < 1.0, f"watch matches must arrive within 1 s of being stored: {sorted(delays)[-5:]}"
    assert closes and set(closes) <= {1009}, f"oversize frames close their own socket with 1009: {closes}"
    assert growth < 300, f"server memory grew by {growth:.0f} MB"
    assert closed_slow == SLOW_READERS, f"only {closed_slow} of {SLOW_READERS} slow readers were closed"


def _closed_by_server(sock: socket.socket) -> bool:
    """Read everything the server sent: a slow reader the server closed ends in EOF (after a close frame)."""
    sock.settimeout(10)
    try:
        while chunk := sock.recv(1 << 20):
            del chunk
        return True
    except (TimeoutError, OSError):
        return False
