"""Writing the format matrix's cases leaves the writing process as it was."""

from __future__ import annotations

import os

import pytest

from streammm.media.synthetic import MATRIX, missing_encoders, write_case

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="scheduling policies are Linux's")


def test_writing_the_av1_case_leaves_the_thread_s_scheduling_as_it_was(tmp_path):
    """SVT-AV1 makes the thread that opens it real-time (SCHED_FIFO 99) where it may (as root, as here and in
    CI): the test process, and every worker it started after, had run real-time and the suite hung. Where the
    process may not change its scheduling (not root), SVT-AV1 cannot either, and this checks nothing more."""
    case = next(c for c in MATRIX if c.name == "mp4_av1")
    if missing_encoders(case):
        pytest.skip(f"this FFmpeg build lacks {missing_encoders(case)}")
    before = (os.sched_getscheduler(0), os.sched_getparam(0))
    path = write_case(case, tmp_path)
    assert path.stat().st_size > 0
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
