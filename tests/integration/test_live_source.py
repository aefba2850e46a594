"""Live sources: an HLS playlist served over loopback HTTP, a server that is down at first."""

from __future__ import annotations

import functools
import http.server
import logging
import socketserver
import threading
import time
from pathlib import Path

import av
import pytest

from streammm.bus.broker import free_port
from streammm.ingest.sources import live_segments

pytestmark = pytest.mark.integration


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def write_hls(source: Path, folder: Path) -> None:
    """Remux a real video into an HLS playlist of ~2 s MPEG-TS pieces (what a live packager serves)."""
    with av.open(str(source)) as src, av.open(str(folder / "index.m3u8"), "w", format="hls", options={"hls_time": "2", "hls_list_size": "0", "hls_playlist_type": "vod"}) as out:
        inputs = [src.streams.video[0], src.streams.audio[0]]
        streams = {s.index: out.add_stream_from_template(s) for s in inputs}
        for packet in src.demux(inputs):
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def read_to_its_end(url: str, *, timeout_s: float) -> list:
    """The segments of the live source at `url`, which must end by itself within `timeout_s`, on one
    continuous timeline."""
    stop = threading.Event()
    timer = threading.Timer(timeout_s, stop.set)
    timer.start()
    try:
        segments = list(live_segments(url, "cam", 2.0, stop, max_backoff_s=1.0))
    finally:
        timer.cancel()
    assert not stop.is_set(), "the playlist's end should have ended the stream"
    for before, after in zip(segments, segments[1:]):
        assert after.start_s == pytest.approx(before.end_s, abs=0.05)  # one continuous timeline
    return segments


def test_hls_source_that_is_down_at_first_is_reconnected_and_read_to_its_end(tmp_path, media, caplog):
    write_hls(media / "video" / "movie-hello.mp4", tmp_path)
    port = free_port()
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server_holder: list[socketserver.TCPServer] = []

    def start_server_late() -> None:
        time.sleep(1.5)  # the first connection attempts are refused
        server = socketserver.TCPServer(("127.0.0.1", port), handler)
        server_holder.append(server)
        server.serve_forever()

    threading.Thread(target=start_server_late, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="streammm.ingest.sources"):
            segments = read_to_its_end(f"http://127.0.0.1:{port}/index.m3u8", timeout_s=60)
    finally:
        for server in server_holder:
            server.shutdown()
            server.server_close()
    assert "reconnecting" in caplog.text and "Connection refused" in caplog.text
    assert [s.seq for s in segments] == list(range(len(segments))) and len(segments) >= 3
    assert [s.last for s in segments] == [False] * (len(segments) - 1) + [True]
    assert segments[-1].end_s == pytest.approx(8.33, abs=0.5)


def test_an_hls_discontinuity_whose_clock_restarts_continues_the_timeline(tmp_path, media, caplog):
    """A live playlist joins two programmes with #EXT-X-DISCONTINUITY (an ad break, an encoder restart): the
    second restarts its clock. Its packets had landed on the first's seconds (their clips overwritten); they
    now follow on, so the stream's segments run without a gap or an overlap through both."""
    for part in ("a", "b"):
        (tmp_path / part).mkdir()
        write_hls(media / "video" / "movie-hello.mp4", tmp_path / part)
    pieces = {part: [line for line in (tmp_path / part / "index.m3u8").read_text().splitlines() if line.startswith("#EXTINF") or line.endswith(".ts")] for part in ("a", "b")}
    playlist = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for part, lines in pieces.items():
        if part == "b":
            playlist.append("#EXT-X-DISCONTINUITY")
        playlist += [line if line.startswith("#") else f"{part}/{line}" for line in lines]
    (tmp_path / "index.m3u8").write_text("\n".join([*playlist, "#EXT-X-ENDLIST", ""]))
    port = free_port()
    server = socketserver.TCPServer(("127.0.0.1", port), functools.partial(QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.WARNING, logger="streammm.media.reading"):
            segments = read_to_its_end(f"http://127.0.0.1:{port}/index.m3u8", timeout_s=120)
    finally:
        server.shutdown()
        server.server_close()
    assert segments[-1].end_s == pytest.approx(2 * 8.33, abs=0.8)  # both programmes, one after the other
    assert "video clock jumps" in caplog.text and "audio clock jumps" in caplog.text


def test_a_restarted_live_ingest_continues_the_timeline_and_keeps_the_first_runs_clips(tmp_path, media):
    """`streammm up --once` on an HLS URL twice (real broker, models and store): the second run's clips follow
    the first run's on the stream's timeline, and not one of the first run's clips is overwritten.

    The second run reads its sources from a sources file (`--sources`), with credentials for the camera and
    a second source that never answers: that one fails after its reconnects, and `up --once` says so and
    exits 1, having indexed the camera all the same; the password is in no log line."""
    from pipeline_helpers import base_env, clip_rows, run_cli, tail

    hls = tmp_path / "hls"
    hls.mkdir()
    write_hls(media / "video" / "movie-hello.mp4", hls)
    port = free_port()
    handler = functools.partial(QuietHandler, directory=str(hls))
    server = socketserver.TCPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data_dir = tmp_path / "data"
    env = base_env()
    sources = tmp_path / "cameras.yaml"
    sources.write_text(
        f"- id: cam\n  url: http://127.0.0.1:{port}/index.m3u8\n  username: viewer\n  password: Hunter2-secret\n"
        f"- id: gone\n  url: http://127.0.0.1:{free_port()}/live.m3u8\n  options: {{max_reconnects: 2, max_backoff_s: 1}}\n"
    )
    commands = [["--ingest", f"http://127.0.0.1:{port}/index.m3u8=cam"], ["--sources", str(sources)]]
    try:
        runs = []
        for n, inputs in enumerate(commands, 1):
            log = tmp_path / f"up-{n}.log"
            result = run_cli(["up", "--once", "--no-server", "--data-dir", str(data_dir), *inputs], env=env, log=log, timeout_s=600)
            assert result.returncode == (0 if n == 1 else 1), tail(log, 60)
            runs.append(clip_rows(data_dir, "cam"))
    finally:
        server.shutdown()
        server.server_close()
    first, both = runs
    assert [r["start_s"] for r in first] == [0.0, 2.0, 4.0, 6.0]
    assert both[: len(first)] == first, "the first run's clips are kept as they were"
    later = both[len(first):]
    assert [r["start_s"] for r in later] == [10.0, 12.0, 14.0, 16.0], "the second run continues after the first"
    assert later[-1]["end_s"] == pytest.approx(10.0 + 8.33, abs=0.5)
    second_log = (tmp_path / "up-2.log").read_text()
    assert "the live timeline continues at 10.0 s" in second_log
    assert "indexed 1 of 2 inputs; not indexed:" in second_log and "  gone: " in second_log
    assert clip_rows(data_dir, "gone") == []
    assert "Hunter2-secret" not in second_log
