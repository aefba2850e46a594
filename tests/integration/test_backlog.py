"""A batch far beyond what two cores index in real time: `streammm up --once` of every dev video four times
over (20 streams at once, real broker, models and store) stores every clip with exactly the evidence of
the same video indexed without that load (the session's dev store). Wall time and peak memory are printed
(`-s` shows them); they are measurements, not assertions."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import DEV_MEDIA
from pipeline_helpers import base_env, clip_rows, clips_of, run_cli, tail

from streammm.records import ClipFilter
from streammm.store.embedded import LanceDbClipStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # up --once itself may take up to 1500 s on a loaded machine
COPIES = 4  # each dev video under four stream ids, none of them the dev store's


class PeakMemory:
    """Samples the resident memory of a process tree (this test's children: `up` and its broker)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(os.getpid()) - _rss_mb(os.getpid()))


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree_rss_mb(root: int) -> float:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_mb(pid)
        todo += children.get(pid, [])
    return total


def evidence(clip) -> tuple:
    return (clip.end_s, clip.transcript, clip.ocr_text, clip.frame_times, clip.tags, clip.modalities, clip.pending)


def test_twenty_streams_at_once_store_every_clip_with_the_evidence_of_each_video_alone(tmp_path: Path, media: Path, dev_data_dir: Path):
    inputs = [f"{media / relative}={Path(relative).stem}-{k}" for relative in DEV_MEDIA for k in range(COPIES)]
    data_dir = tmp_path / "batch"
    log = tmp_path / "up.log"
    began = time.monotonic()
    with PeakMemory() as memory:
        result = run_cli(["up", "--once", "--no-server", "--data-dir", str(data_dir), "--ingest", *inputs], env=base_env(), log=log, timeout_s=1500)
    took = time.monotonic() - began
    assert result.returncode == 0, tail(log, 60)
    media_s = sum(max(r["end_s"] for r in clip_rows(dev_data_dir, Path(rel).stem)) for rel in DEV_MEDIA) * COPIES
    print(f"\nbatch: {len(inputs)} streams, {media_s:.0f} s of media in {took:.0f} s wall; peak memory of up + broker {memory.peak_mb:.0f} MB")

    batch = LanceDbClipStore(data_dir / "clips", 384)
    alone = LanceDbClipStore(dev_data_dir / "clips", 384)
    try:
        assert batch.count(ClipFilter(incomplete=True)) == 0
        problems = []
        for relative in DEV_MEDIA:
            stem = Path(relative).stem
            want = {c.start_s: evidence(c) for c in clips_of(alone, dev_data_dir, stem)}
            assert want and all(w[-1] == () for w in want.values()), f"the dev store has incomplete clips of {stem}"
            for k in range(COPIES):
                got = {c.start_s: evidence(c) for c in clips_of(batch, data_dir, f"{stem}-{k}")}
                if sorted(got) != sorted(want):
                    problems.append(f"{stem}-{k}: windows {sorted(got)}, want {sorted(want)}")
                    continue
                problems += [f"{stem}-{k} @ {s:g}: {got[s]} != {want[s]}" for s in want if got[s] != want[s]]
        assert not problems, "the batch lost or changed evidence:\n" + "\n".join(problems[:20])
    finally:
        batch.close()
        alone.close()
