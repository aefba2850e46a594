"""Live sources without a camera: URL masking, decoding times for B-frames, the source states, the
supervisor that restarts a crashed publisher, the sources file, and the /v1/streams and /metrics views."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from streammm.config import load_settings
from streammm.errors import ConfigError, MediaError
from streammm.ingest.sources import live_segments, rtsp_options, stream_id_for
from streammm.ingest.supervisor import Sources, read_sources_file
from streammm.media.muxing import TimedPacket, decoding_times
from streammm.media.urls import mask_url, with_credentials
from streammm.server.app import create_app
from streammm.stats import PipelineStats, SourceControl


def test_passwords_are_masked_and_credentials_are_put_into_urls():
    assert mask_url("rtsp://admin:hunter2@10.0.0.5:554/Streaming/101") == "rtsp://admin:***@10.0.0.5:554/Streaming/101"
    assert mask_url("rtsp://admin@cam/x") == "rtsp://admin@cam/x"
    assert mask_url("rtsp://cam/x?user=a") == "rtsp://cam/x?user=a"
    assert mask_url("/media/a@b.mp4") == "/media/a@b.mp4"
    url = with_credentials("rtsp://old:pw@cam:554/live", "ad min", "p@ss:word")
    assert url == "rtsp://ad%20min:p%40ss%3Aword@cam:554/live"
    assert "p%40ss" not in mask_url(url)
    assert rtsp_options("rtsp://cam/x") == {"rtsp_transport": "tcp"} and rtsp_options("rtsp://cam/x", "udp") == {"rtsp_transport": "udp"}
    assert rtsp_options("http://cam/x.m3u8") == {}


def _video(pts: int | None, dts: int | None = None) -> TimedPacket:
    return TimedPacket("video", 0.0, False, None, pts, dts, stream="v")


def test_decoding_times_for_b_frames_without_dts_never_decrease_and_never_pass_pts():
    # RTP gives presentation times only; H.264 with B-frames sends them out of order (I P B B B P ...).
    items = [_video(0), _video(14400), _video(7200), _video(3600), _video(10800), _video(28800), _video(21600)]
    dts = [decoding_times(items)[id(i)] for i in items]
    assert all(a <= b for a, b in zip(dts, dts[1:]))
    assert all(d is not None and d <= i.pts for d, i in zip(dts, items))  # type: ignore[operator]
    given = [_video(3, 1), _video(2, 2), _video(4, 3)]  # a file's own, in order: kept
    assert [decoding_times(given)[id(i)] for i in given] == [1, 2, 3]


def test_source_states_count_reconnects_and_gaps_and_show_in_progress_lines():
    stats = PipelineStats()
    stats.source_added("cam", "rtsp://u:***@cam/x", live=True)
    stats.source_state("cam", "live")
    stats.source_state("cam", "reconnecting", error="reading stopped (Connection reset by peer)")
    stats.source_state("cam", "reconnecting", error="Connection refused")
    stats.source_state("cam", "live", gap_s=12.5)
    src = stats.sources()["cam"]
    assert (src.state, src.reconnects, src.gaps, src.gap_s, src.last_error) == ("live", 2, 1, 12.5, "Connection refused")
    [line] = stats.lines()
    assert line.startswith("cam [live]: ") and "2 reconnects, 1 gaps (12 s)" in line


class FakeRun:
    """A publisher that crashes `crashes` times (not a MediaError: a bug), then publishes until stopped."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.calls: list[float] = []

    async def __call__(self, source, stream_id, *, stop: threading.Event, stats: PipelineStats, timeline_start_s: float, **_) -> int:
        self.calls.append(timeline_start_s)
        if len(self.calls) <= self.crashes:
            raise ValueError("non monotonically increasing dts to muxer")
        stats.source_state(stream_id, "live")
        stats.published(stream_id, 4.0)
        await asyncio.to_thread(stop.wait, 30)
        stats.source_state(stream_id, "stopped")
        return 2


def test_a_crashing_publisher_is_logged_counted_shown_and_restarted(caplog):
    async def scenario():
        stats = PipelineStats()
        fake = FakeRun(crashes=2)
        sources = Sources(load_settings(env={}, overrides={"ingest.max_backoff_s": 0.05}), producer=None, topics=None, stats=stats, publish_fn=fake)
        task = sources.start("rtsp://u:secret@cam/x", "cam")
        for _ in range(200):
            if stats.sources()["cam"].state == "live":
                break
            await asyncio.sleep(0.05)
        src = stats.sources()["cam"]
        assert (src.state, src.crashes, src.source) == ("live", 2, "rtsp://u:***@cam/x")
        assert "ValueError: non monotonically" in (src.last_error or "")
        assert sources.remove("cam") and await asyncio.wait_for(task, 10) == 2
        assert stats.sources()["cam"].state == "stopped" and not sources.remove("cam")
        assert "cam" in sources.failed  # `up --once` reports it: a crash is never silent
        return fake

    fake = asyncio.run(scenario())
    assert len(fake.calls) == 3
    assert caplog.text.count("the publisher of rtsp://u:***@cam/x failed: ValueError") == 2
    assert "secret" not in caplog.text


def test_a_file_whose_publisher_keeps_crashing_is_given_up():
    async def scenario():
        stats = PipelineStats()
        sources = Sources(load_settings(env={}), producer=None, topics=None, stats=stats, publish_fn=FakeRun(crashes=99))
        sources.start("/media/a.mp4", "a")
        await asyncio.wait_for(sources.tasks["a"], 30)
        return stats.sources()["a"], sources

    src, sources = asyncio.run(scenario())
    assert src.state == "failed" and src.crashes == 3 and "crashed" in sources.failed["a"]


def test_a_live_source_that_never_answers_is_given_up_after_max_reconnects(caplog):
    events: list[str] = []
    with pytest.raises(MediaError, match="gave up after 2 reconnects"):
        list(live_segments("rtsp://u:pw@127.0.0.1:1/x", "cam", 2.0, threading.Event(), max_backoff_s=0.01, read_timeout_s=2,
                           max_reconnects=2, events=lambda state, **_: events.append(state)))
    assert events == ["connecting", "reconnecting", "reconnecting", "failed"]
    assert "cannot connect" in caplog.text and "pw@" not in caplog.text


def test_the_sources_file_gives_ids_urls_with_credentials_and_options(tmp_path: Path):
    path = tmp_path / "cameras.yaml"
    path.write_text(
        "sources:\n"
        "  - {id: lobby, url: 'rtsp://10.0.0.5/live', username: admin, password: 's3cret', options: {rtsp_transport: udp}}\n"
        "  - {url: 'rtsp://10.0.0.6/door'}\n"
    )
    lobby, door = read_sources_file(path)
    assert (lobby.stream_id, lobby.url, lobby.options) == ("lobby", "rtsp://admin:s3cret@10.0.0.5/live", {"rtsp_transport": "udp"})
    assert (door.stream_id, door.url) == ("door", "rtsp://10.0.0.6/door")
    path.write_text("- {id: a, url: 'rtsp://x/1', pasword: typo}\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        read_sources_file(path)
    path.write_text("- {id: '..', url: 'rtsp://x/1'}\n")
    with pytest.raises(ConfigError, match="source 1: '..' cannot be a stream id"):
        read_sources_file(path)


def test_stream_ids_from_the_command_line_never_name_a_folder_around_the_spool():
    assert stream_id_for("/media/talk.mp4=lobby-2") == ("/media/talk.mp4", "lobby-2")
    assert stream_id_for("/media/My Talk (2019).mp4") == ("/media/My Talk (2019).mp4", "My Talk (2019)")
    assert stream_id_for("https://cdn/live/index.m3u8") == ("https://cdn/live/index.m3u8", "index")
    for source in ("/media/talk.mp4=..", "/media/talk.mp4=.", "/media/..mp4", "https://cdn/live/.."):
        with pytest.raises(ConfigError, match="cannot be a stream id"):
            stream_id_for(source)


class EmptyStore:
    def streams(self):
        return []

    def count(self, *args):
        return 0


class Encoder:
    dim = 3

    def encode(self, texts):
        return np.zeros((len(texts), 3), np.float32)


class Control(SourceControl):
    def __init__(self, stats: PipelineStats) -> None:
        self.stats = stats

    def add(self, source: str, stream_id: str) -> None:
        if stream_id in self.stats.sources():
            raise ConfigError(f"stream {stream_id!r} already has a source")
        self.stats.source_added(stream_id, mask_url(source), live=True)

    def remove(self, stream_id: str) -> bool:
        if stream_id not in self.stats.sources():
            return False
        self.stats.source_state(stream_id, "stopped")
        return True


def test_streams_are_added_listed_with_their_state_and_stopped_over_http():
    stats = PipelineStats()
    settings = load_settings(env={}, overrides={"server.allowed_hosts": ["testserver"]})
    app = create_app(settings, EmptyStore(), Encoder(), data_dir=Path("/nonexistent"), stats=stats)  # type: ignore[arg-type]
    with TestClient(app) as client:
        assert client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": "cam1"}).status_code == 501  # no `up`
        stats.control = Control(stats)
        created = client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": "cam1", "username": "admin", "password": "pw"})
        assert created.status_code == 201 and created.json()["source"] == "rtsp://admin:***@cam/1"
        assert client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": "cam1"}).status_code == 409
        assert client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": "../x"}).status_code == 400
        for dots in (".", "..", "..."):  # they name folders: ".." had put the stream's spool above the spool
            assert client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": dots}).status_code == 400
        assert client.post("/v1/streams", content=b"{").status_code == 400
        stats.source_state("cam1", "reconnecting", error="Connection refused")
        [row] = client.get("/v1/streams").json()["streams"]
        assert row["stream_id"] == "cam1" and row["state"] == "reconnecting" and row["last_error"] == "Connection refused"
        assert row["reconnects"] == 1 and row["gaps"] == 0 and "pw" not in str(row)
        metrics = client.get("/metrics").text
        assert 'streammm_source_state{state="reconnecting",stream_id="cam1"} 1.0' in metrics
        assert 'streammm_source_reconnects{stream_id="cam1"} 1.0' in metrics
        assert client.delete("/v1/streams/cam1").json() == {"stream_id": "cam1", "state": "stopping"}
        assert client.delete("/v1/streams/nope").status_code == 404


def test_a_dead_publisher_added_over_http_shows_in_streams_and_metrics_and_is_retried():
    stats = PipelineStats()
    settings = load_settings(env={}, overrides={"server.allowed_hosts": ["testserver"], "ingest.max_backoff_s": 0.2})
    app = create_app(settings, EmptyStore(), Encoder(), data_dir=Path("/nonexistent"), stats=stats)  # type: ignore[arg-type]
    broken = FakeRun(crashes=10**6)  # the real supervisor, a publisher that always raises
    with TestClient(app) as client:
        stats.control = Sources(settings, producer=None, topics=None, stats=stats, publish_fn=broken)
        assert client.post("/v1/streams", json={"source": "/etc/passwd", "stream_id": "f"}).status_code == 400  # live only
        assert client.post("/v1/streams", json={"source": "rtsp://cam/1", "stream_id": "cam1"}).status_code == 201
        deadline = time.monotonic() + 30
        while len(broken.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        [row] = client.get("/v1/streams").json()["streams"]
        assert row["crashes"] >= 2 and row["state"] in ("reconnecting", "failed") and "ValueError" in row["last_error"]
        metrics = client.get("/metrics").text
        assert 'streammm_source_publisher_crashes{stream_id="cam1"}' in metrics
        assert 'streammm_source_publisher_crashes{stream_id="cam1"} 0.0' not in metrics
        assert client.delete("/v1/streams/cam1").status_code == 200
    assert len(broken.calls) >= 3, "retried"


def test_up_shows_a_stream_fed_by_another_publisher_by_what_it_became():
    stats = PipelineStats()
    stats.progress("cam2", stored_until_s=34.0, pending={})
    assert stats.lines() == ["cam2 (another publisher): at least 34.0 s ingested, 0 clips stored up to 34.0 s"]


def test_a_file_over_http_ends_at_its_end_and_is_not_reconnected(tmp_path: Path):
    import functools
    import http.server
    import socketserver

    from streammm.media.synthetic import Case, write_case

    path = write_case(Case("clip", "mkv", "matroska", duration_s=4.0), tmp_path)  # read front to back (no ranges here)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    server.daemon_threads = True  # FFmpeg opens a second connection for a range while the first is open
    threading.Thread(target=server.serve_forever, daemon=True).start()
    events: list[str] = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        segments = list(
            live_segments(url, "clip", 2.0, threading.Event(), read_timeout_s=5, max_reconnects=0, events=lambda state, **_: events.append(state))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert events == ["connecting", "live", "ended"]
    assert segments[-1].last and segments[-1].end_s == pytest.approx(4.0, abs=0.3)


def test_a_playlist_behind_basic_auth_is_seen_to_end_with_the_urls_credentials():
    """An HLS source with user:password in its URL: its #EXT-X-ENDLIST must be read with them (urllib cannot
    take them from the URL), or the finished playlist is taken for a drop and replayed from its start."""
    import base64
    import http.server

    from streammm.bus.broker import free_port
    from streammm.ingest.sources import playlist_ended

    wanted = "Basic " + base64.b64encode(b"viewer:p@ss word").decode()

    class Guarded(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.end_headers()
                return
            body = b"#EXTM3U\n#EXTINF:2.0,\na.ts\n#EXT-X-ENDLIST\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Guarded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = with_credentials(f"http://127.0.0.1:{port}/live.m3u8", "viewer", "p@ss word")
        assert playlist_ended(url)
        assert not playlist_ended(with_credentials(f"http://127.0.0.1:{port}/live.m3u8", "viewer", "wrong"))
        assert not playlist_ended(f"http://127.0.0.1:{port}/live.m3u8")
    finally:
        server.shutdown()
        server.server_close()


def test_a_protocol_this_ffmpeg_lacks_fails_at_once_with_the_reason_instead_of_reconnecting(caplog):
    """PyAV's FFmpeg has no SRT: an srt:// source is refused with a clear reason, not retried for ever."""
    stop = threading.Event()
    timer = threading.Timer(20, stop.set)  # a safety net: the source must fail long before
    timer.start()
    try:
        with pytest.raises(MediaError, match=r"cannot read srt:// URLs; relay the stream as RTSP, RTMP or HLS"):
            list(live_segments("srt://127.0.0.1:9000", "cam", 2.0, stop, read_timeout_s=3))
    finally:
        timer.cancel()
    assert not stop.is_set()
    assert "reconnecting" not in caplog.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/live.m3u8", "rtsp://[::1]:8554/cam", "http://cam/a.m3u8?x=1"])
def test_credentials_put_into_a_url_come_out_again_as_they_were(url: str):
    from streammm.media.urls import split_credentials

    assert split_credentials(url) == (url, None, None)
    assert split_credentials(with_credentials(url, "view er", "p@ss:w/rd")) == (url, "view er", "p@ss:w/rd")
    assert split_credentials(with_credentials(url, "viewer", None)) == (url, "viewer", None)
