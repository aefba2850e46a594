"""Shared fixtures: the real dev media, real models loaded once per session, timelines computed once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streammm.config import Settings, load_settings
from streammm.errors import ConfigError
from streammm.media.synthetic import thread_scheduling
from streammm.paths import shared_media


def _media_missing() -> str | None:
    """None when the dev media folder exists, else the one line every test that needs it is skipped with."""
    try:
        shared_media()
    except ConfigError:
        where = os.environ.get("STREAMMM_MEDIA_DIR") or "../shared/media"
        return f"dev media not found at {where}: run tools/fetch-media.sh to rebuild it (or set STREAMMM_MEDIA_DIR)"
    return None


MEDIA_MISSING = _media_missing()


@pytest.fixture(scope="session")
def media() -> Path:
    if MEDIA_MISSING:
        pytest.skip(MEDIA_MISSING)
    return shared_media()


def _as_media_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Turn a failure or skip caused by the missing media into the one skip line (same place, same words, so
    `pytest -ra` folds them all into one line), whether it came from the `media` fixture, a test calling
    shared_media() or a module calling it at import."""
    text = str(report.longrepr) if report.longrepr is not None else ""
    if MEDIA_MISSING and (MEDIA_MISSING in text or "shared media not found" in text):
        report.outcome = "skipped"
        report.longrepr = (__file__, None, f"Skipped: {MEDIA_MISSING}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if not report.passed:
        _as_media_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not report.passed:
        _as_media_skip(report)


# The scheduling every test starts with. A library that made the test process real-time (SVT-AV1 does, as
# root: see streammm.media.synthetic.scheduling_kept) made every process started after it real-time too, and
# the suite hung on a 2-core machine far from the test that did it; the test that does it fails here instead.
SCHEDULING = thread_scheduling()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    result = yield
    if SCHEDULING is not None and (now := thread_scheduling()) != SCHEDULING:
        os.sched_setscheduler(0, *SCHEDULING)
        raise RuntimeError(f"the test process's scheduling changed from {SCHEDULING} to {now} (put back): no process may run real-time")
    return result


@pytest.fixture(scope="session")
def slideshow_truth(media: Path) -> dict:
    return json.loads((media / "derived" / "narrated_slideshow.words.json").read_text())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def perceiver(settings: Settings):
    from streammm.perception import FilePerceiver

    perceiver = FilePerceiver(settings)
    perceiver.models.load_all()
    return perceiver


@pytest.fixture(scope="session")
def timelines(perceiver, media: Path):
    """Timelines of dev videos, computed on first use and shared by every test."""
    cache: dict[str, object] = {}

    def get(relative: str):
        if relative not in cache:
            cache[relative], _ = perceiver.perceive_file(media / relative)
        return cache[relative]

    return get


def pytest_report_header(config: pytest.Config) -> str:
    return MEDIA_MISSING or f"streammm media: {shared_media()}"


# --- a store holding the dev videos, and a server over it --------------------------------------------------

DEV_MEDIA = (
    "derived/narrated_slideshow.mp4",
    "video/display-dual-monitors.webm",
    "video/bikes.mp4",
    "video/movie-hello.mp4",
    "video/moviepy_timecode_example.mp4",
)


def streammm_env(**settings: object) -> dict[str, str]:
    """This environment without the caller's STREAMMM_ settings (media/cache dirs kept), plus `settings`."""
    keep = {"STREAMMM_MEDIA_DIR", "STREAMMM_CACHE_DIR"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_") or k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"STREAMMM_{key.upper()}": str(value) for key, value in settings.items()})
    return env


@contextmanager
def indexed(video: Path, data_dir: Path) -> Iterator[Any]:
    """A QueryService over a store that `streammm up --once` indexed `video` into (the real pipeline), with the
    bundled question encoder; the store is closed after."""
    from streammm.models.registry import create_question_encoder
    from streammm.qa.service import QueryService
    from streammm.store.factory import open_existing_store

    command = [sys.executable, "-m", "streammm", "up", "--once", "--data-dir", str(data_dir), "--ingest", str(video)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=streammm_env())
    assert result.returncode == 0, result.stderr[-4000:]
    settings = load_settings(env={}, overrides={"store.data_dir": str(data_dir)})
    encoder = create_question_encoder(settings.models)
    store = open_existing_store(settings, encoder.dim)
    try:
        yield QueryService(store, encoder, min_relevance=settings.qa.min_relevance)
    finally:
        store.close()


def tutorial_ttml(page: Path) -> str:
    """The GNOME "Displays" tutorial's captions as a TTML file: the `<tt:tt>` of its gnome-help page's `<media>`
    (which the page keeps inside a comment), with the `its:` prefix the page declares on its root."""
    tt = re.search(r"<tt:tt\b.*?</tt:tt>", page.read_text(encoding="utf-8"), re.S).group(0)
    return tt.replace("<tt:tt ", '<tt:tt xmlns:its="http://www.w3.org/2005/11/its" ', 1)


def extractive_answer(service: Any, question: str) -> str:
    """The extractive answer's text to `question`, from the moments `service` finds for it (as an ask does)."""
    import asyncio

    from streammm.qa.extractive import ExtractiveAnswerer
    from streammm.qa.service import SearchRequest

    moments = service.moments(SearchRequest(question))

    async def run():
        return [e async for e in ExtractiveAnswerer(service.encoder).answer(question, moments)][-1]

    return asyncio.run(run()).text


@pytest.fixture(scope="session")
def dev_data_dir(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Path:
    """A data dir whose store holds every dev video named in queries.json, indexed once through the real
    pipeline by `streammm up --once` (stream ids are the file stems)."""
    reuse = os.environ.get("STREAMMM_TEST_DEV_DATA_DIR")  # a developer's speed-up: a store made by this fixture before
    if reuse and (Path(reuse) / "clips").is_dir():
        return Path(reuse)
    data_dir = tmp_path_factory.mktemp("dev-store")
    command = [sys.executable, "-m", "streammm", "up", "--once", "--data-dir", str(data_dir), "--ingest"]
    command += [str(media / relative) for relative in DEV_MEDIA]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=streammm_env())
    assert result.returncode == 0, result.stderr[-4000:]
    return data_dir


@dataclass
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/ws"


def start_server(data_dir: Path, log: Path, *extra: str, env: dict[str, str] | None = None, timeout_s: float = 300) -> RunningServer:
    """`streammm serve` on a free port over `data_dir`; returns once /readyz answers 200."""
    from streammm.bus.broker import free_port

    port = free_port()
    command = [sys.executable, "-m", "streammm", "serve", "--data-dir", str(data_dir), "--port", str(port), *extra]
    handle = log.open("w")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env or streammm_env())
    server = RunningServer(f"http://127.0.0.1:{port}", process, log)
    wait_until_serving(process, server.url + "/readyz", log, timeout_s=timeout_s, what="streammm serve")
    return server


def wait_until_serving(process: subprocess.Popen, url: str, log: Path, *, timeout_s: float, what: str) -> None:
    """Return once `url` answers 200; fail with the log's tail if `process` exits or time runs out (then kill it)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError(f"{what} not ready after {timeout_s} s:\n{log.read_text()[-4000:]}")


def stop_server(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def dev_server(dev_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """`streammm serve` over the dev store (auth off: it listens on loopback)."""
    server = start_server(dev_data_dir, tmp_path_factory.mktemp("dev-server") / "serve.log")
    yield server
    stop_server(server)
