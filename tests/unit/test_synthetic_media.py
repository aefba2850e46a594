"""Writing test media leaves the test process's scheduling as it was, and the suite fails a test that does not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streammm.media.synthetic import MATRIX, missing_encoders, thread_scheduling, write_case

pytestmark = pytest.mark.skipif(thread_scheduling() is None, reason="scheduling policies are Linux's")


def test_writing_the_av1_case_leaves_the_thread_s_scheduling_as_it_was(tmp_path):
    """SVT-AV1 makes the thread that opens it real-time (SCHED_FIFO 99) where it may (as root, as here and in
    CI): the test process, and every worker it started after, had run real-time and the suite hung. Where the
    process may not change its scheduling (not root), SVT-AV1 cannot either, and this checks nothing more."""
    case = next(c for c in MATRIX if c.name == "mp4_av1")
    if missing_encoders(case):
        pytest.skip(f"this FFmpeg build lacks {missing_encoders(case)}")
    before = thread_scheduling()
    path = write_case(case, tmp_path)
    assert path.stat().st_size > 0
    assert thread_scheduling() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may make a thread real-time")
def test_the_suite_fails_the_test_that_makes_its_process_real_time_and_the_next_runs_as_before(tmp_path):
    """The suite's own guard (tests/conftest.py), run on two tests in a pytest of their own: the first makes
    itself real-time and errors, naming the change; the second starts with the scheduling put back."""
    shutil.copy(Path(__file__).parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(
        "import os\n"
        "def test_goes_real_time():\n"
        "    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))\n"
        "def test_after_it():\n"
        "    assert os.sched_getscheduler(0) == os.SCHED_OTHER\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert "ERROR at teardown of test_goes_real_time" in done.stdout, done.stdout
    assert "RuntimeError: the test process's scheduling changed from (0," in done.stdout, done.stdout
    assert "2 passed, 1 error" in done.stdout, done.stdout
