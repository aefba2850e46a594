"""When `streammm up --once` stops waiting for a stream's incomplete clips: only when a modality they lack is
really gone (no worker heartbeat, or everything idle), never because it is merely behind."""

from __future__ import annotations

from streammm.node import _gone
from streammm.stats import PipelineStats

NOW = 1000.0


def stats_with(pending: dict[str, float]) -> PipelineStats:
    stats = PipelineStats()
    stats.stored("cam", 0.0, 4.0, 1.0, complete=not pending)
    stats.progress("cam", stored_until_s=4.0, pending=pending)
    stats.heartbeat("align", "align-0", NOW - 1, 0)
    return stats


def test_a_modality_that_is_behind_is_waited_for_however_long():
    stats = stats_with({"ocr": 0.0})
    stats.heartbeat("ocr", "ocr-0", NOW - 1, 250)
    assert _gone(stats, "cam", True, 30.0, NOW) is None
    assert "waiting for ocr (worker busy, 250 records queued)" in stats.lines(now=NOW)[0]


def test_a_modality_with_no_heartbeat_is_dead_and_named():
    stats = stats_with({"ocr": 6.0})
    stats.heartbeat("ocr", "ocr-0", NOW - 31, 4)
    why = _gone(stats, "cam", True, 30.0, NOW)
    assert why is not None and "ocr from 6 s on" in why and "no ocr worker heartbeat" in why
    assert "ocr (no worker heartbeat)" in stats.lines(dead_after_s=30.0, now=NOW)[0]


def test_evidence_that_will_never_come_is_recognised_when_everyone_is_idle():
    stats = stats_with({"speech": 2.0})
    stats.heartbeat("speech", "speech-0", NOW - 1, 0)
    assert "idle" in (_gone(stats, "cam", True, 30.0, NOW) or "")
    stats.heartbeat("align", "align-0", NOW, 3)  # the aligner still has reports to read: not yet
    assert _gone(stats, "cam", True, 30.0, NOW) is None


def test_nothing_is_given_up_while_the_source_still_publishes_or_nothing_is_pending():
    stats = stats_with({"ocr": 0.0})
    assert _gone(stats, "cam", False, 30.0, NOW) is None
    assert _gone(stats_with({}), "cam", True, 30.0, NOW) is None


def test_the_progress_line_says_when_a_stream_that_is_behind_will_have_caught_up():
    from streammm.stats import PipelineStats

    stats = PipelineStats()
    stats.published("cam", 300.0)  # a file published far ahead of its clips
    stream = stats.streams["cam"]
    stream.samples.clear()
    for t, stored in ((0.0, 0.0), (20.0, 40.0)):  # 40 media s stored in 20 wall s, nothing more published
        stream.stored_until_s = stored
        stream.sample(1000.0 + t)
    assert stream.catch_up_s() == 130.0  # 260 s left at 2 media s per s
    assert "behind by 4 min 20 s of media, caught up in about 2 min 10 s" in stats.lines()[0]
    stream.media_s_published = 400.0  # publishing faster than storing
    stream.sample(1040.0)
    assert "not catching up" in stats.lines()[0]
