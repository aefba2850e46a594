"""`streammm publish` finds its broker: the configured one, or the one a running `streammm up` advertises in
its data dir; without either, one clear error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_")}
    return subprocess.run([sys.executable, "-m", "streammm", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_publish_without_a_broker_says_how_to_get_one(tmp_path: Path):
    result = run("publish", "rtsp://127.0.0.1:1/cam", "--stream", "cam", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("streammm: error: publish needs a broker") and "streammm up --data-dir" in line


def test_publish_uses_the_broker_a_running_up_advertises(tmp_path: Path):
    from streammm.bus.broker import advertise_broker

    advertise_broker(tmp_path / "data", "127.0.0.1:1")  # this process is alive: the address counts as running
    result = run("--log-level", "ERROR", "publish", str(tmp_path / "missing.mp4"), "--stream", "x", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert "publish needs a broker" not in result.stderr
    assert result.returncode != 0 and "127.0.0.1:1" in result.stderr  # it tried that broker, which is not there
