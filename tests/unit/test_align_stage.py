"""The align stage: windows once every expected modality reported, provisional windows when one is behind,
late evidence always merged (however late), a restarted aligner resuming from what each modality committed,
and bounded state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from streammm.config import AlignConfig
from streammm.records import FrameObservation, IngestRun, Observation, OcrLine, Word
from streammm.stages.align import DONE, AlignState, observe, ready_windows, report_used

OPTIONS = AlignConfig(provisional_after_s=10.0)  # 4 s windows, 2 s stride
RUN = IngestRun(started_at=100.0)


def seq(start: float) -> int:
    return round(start * 10)  # 0 only for a run's first segment


def vision(start: float, end: float, last: bool = False) -> Observation:
    frames = tuple(FrameObservation(float(t), (), np.ones(4, np.float32)) for t in range(int(start), int(end)))
    return Observation("visual", "s", seq(start), start, end, last, frames=frames, run=RUN)


def speech(start: float, end: float, *words: tuple[float, float, str], last: bool = False) -> Observation:
    return Observation("speech", "s", seq(start), start, end, last, words=tuple(Word(a, b, t) for a, b, t in words), run=RUN)


def ocr(start: float, end: float, *lines: tuple[float, float, str], last: bool = False) -> Observation:
    return Observation("ocr", "s", seq(start), start, end, last, ocr=tuple(OcrLine(a, b, t) for a, b, t in lines), run=RUN)


def run(state: AlignState, *reports: Observation, now: float = 1.0, options: AlignConfig = OPTIONS):
    for report in reports:
        state = observe(state, report, options)
    return ready_windows(state, now, options)


def fresh(run_info: IngestRun = RUN) -> AlignState:
    return AlignState("s", run_info, created_at=0.0)


def summary(updates) -> list[tuple[float, float, list[str], bool]]:
    return [(u.window.start_s, u.window.end_s, sorted(u.modalities), u.new) for u in updates]


def test_a_new_stream_starts_at_zero_whichever_modality_reports_first():
    _, updates = run(fresh(), speech(0.0, 4.6, (1.0, 1.4, "hello")), vision(0.0, 5.0), ocr(0.0, 5.0))
    assert summary(updates) == [(0.0, 4.0, ["ocr", "speech", "visual"], True)]
    assert [w.text for w in updates[0].window.words] == ["hello"]


def test_a_window_waits_for_a_modality_that_is_behind_then_is_stored_provisionally():
    state, updates = run(fresh(), vision(0.0, 5.0), ocr(0.0, 5.0), now=1.0)
    assert updates == [] and state.waiting_since == 1.0
    state, updates = run(state, now=10.5)
    assert updates == [], "not before provisional_after_s"
    state, updates = run(state, now=11.0)
    assert summary(updates) == [(0.0, 4.0, ["ocr", "visual"], True)]
    assert state.pending() == {"speech": 0.0} and not state.finished


def test_late_evidence_completes_the_stored_windows_however_late_it_comes():
    state, updates = run(fresh(), vision(0.0, 5.0, last=True), ocr(0.0, 5.0, (0.0, 5.0, "ls /usr"), last=True), now=1.0)
    state, updates = run(state, now=20.0)
    assert summary(updates) == [(0.0, 4.0, ["ocr", "visual"], True), (2.0, 5.0, ["ocr", "visual"], True)]
    assert state.next_start_s == DONE and not state.finished
    # Hours later (no lateness limit), speech reports: both windows get its words, and only its words.
    state, late = run(state, speech(0.0, 5.0, (1.0, 1.4, "hello"), (3.0, 3.5, "world"), last=True), now=7200.0)
    assert summary(late) == [(0.0, 4.0, ["speech"], False), (2.0, 5.0, ["speech"], False)]
    assert [[w.text for w in u.window.words] for u in late] == [["hello", "world"], ["world"]]
    assert state.finished and state.pending() == {}


def test_a_silent_video_expects_no_speech_and_its_empty_speech_reports_change_nothing():
    silent = IngestRun(started_at=100.0, has_audio=False)
    state = fresh(silent)
    reports = [replace(r, run=silent) for r in (vision(0.0, 3.0, last=True), ocr(0.0, 3.0, last=True))]
    state, updates = run(state, *reports)
    assert summary(updates) == [(0.0, 3.0, ["ocr", "visual"], True)] and state.finished
    state, updates = run(fresh(silent), replace(speech(0.0, 3.0, last=True), run=silent), *reports)
    assert summary(updates) == [(0.0, 3.0, ["ocr", "visual"], True)]


def test_a_restarted_aligner_resumes_each_modality_at_its_commit_and_merges_the_lagging_one():
    # Before the restart [0,4) .. [8,12) were stored; OCR was behind (its reports from 5 s on were not
    # committed), vision and speech were committed up to 10 s. Reading again from the commits, the
    # stored windows from [6,10) on get OCR merged in, and new windows go on from 10 s.
    state, updates = run(
        fresh(),
        vision(10.0, 15.0), speech(10.0, 14.0, (10.3, 10.5, "he"), (12.4, 12.8, "man")),
        ocr(5.0, 10.0, (5.0, 9.0, "Mirror displays")), ocr(10.0, 15.0, (9.0, 15.0, "Mirror displays")),
    )
    assert state.next_start_s == 12.0
    assert summary(updates) == [(6.0, 10.0, ["ocr"], False), (8.0, 12.0, ["ocr"], False), (10.0, 14.0, ["ocr", "speech", "visual"], True)]
    assert [o.text for o in updates[0].window.ocr] == ["Mirror displays"]


def test_a_line_held_open_past_a_report_is_ended_by_the_next_report():
    # The report up to 5 s saw the dialog on its last frame (4.5 s) and holds it open to the next frame
    # (5.5 s) for a later report to join; the next report's first frame (5.5 s) no longer shows it, so it
    # went halfway (5.0 s). The window stored in between keeps the guess it was stored with.
    dialog = "Keep This Configuration"
    state, first = run(fresh(), vision(0.0, 5.0), speech(0.0, 5.0), ocr(0.0, 5.0, (1.0, 5.5, dialog)))
    assert summary(first) == [(0.0, 4.0, ["ocr", "speech", "visual"], True)]
    assert [(o.start_s, o.end_s) for o in first[0].window.ocr] == [(1.0, 5.5)]
    state, later = run(state, vision(5.0, 10.0), speech(5.0, 10.0), ocr(5.0, 10.0, (1.0, 5.0, dialog)))
    assert [(u.window.start_s, [(o.start_s, o.end_s) for o in u.window.ocr]) for u in later] == [(2.0, [(1.0, 5.0)]), (4.0, [(1.0, 5.0)]), (6.0, [])]


def test_state_keeps_only_the_evidence_that_windows_still_lack():
    state, _ = run(fresh(), vision(0.0, 20.0), speech(0.0, 20.0, (1.0, 1.4, "a"), (15.0, 15.5, "b")), now=1.0)
    state, updates = run(state, now=11.0)  # OCR behind: windows stored with vision and speech, waiting once
    assert [u.window.start_s for u in updates] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    # Stored evidence lives in the store: only what the next window [18, 22) needs stays in memory.
    assert [f.t_s for f, _ in state.frames] == [18.0, 19.0] and state.words == ()
    state, late = run(state, ocr(0.0, 4.0, (0.0, 4.0, "title")), now=12.0)
    assert summary(late) == [(0.0, 4.0, ["ocr"], False)]
    assert [o.text for o in state.ocr] == ["title"] and state.done_until["ocr"] == 2.0


def test_a_report_is_used_once_every_window_using_it_has_its_evidence():
    state, _ = run(fresh(), vision(0.0, 5.0), speech(0.0, 5.0), ocr(0.0, 5.0))
    assert report_used(state, "visual", 2.0)
    assert not report_used(state, "visual", 5.0), "[2,6) still needs the report's frames after 2 s"
    state, _ = run(state, vision(5.0, 9.0), speech(5.0, 9.0), ocr(5.0, 9.0))
    assert report_used(state, "visual", 5.0) and report_used(state, "ocr", 5.0)
    silent = fresh(IngestRun(has_audio=False))
    assert report_used(silent, "speech", 100.0), "an unexpected modality's reports hold nothing back"


def test_a_runs_last_report_is_used_only_once_the_run_is_finished():
    state, _ = run(fresh(), vision(0.0, 5.0, last=True), speech(0.0, 5.0, last=True), now=1.0)
    state, _ = run(state, now=20.0)  # OCR behind: both windows stored without it
    assert state.done_until["visual"] == DONE and not state.finished
    assert not report_used(state, "visual", 5.0, last=True), "an aligner taking over must re-read where vision ends"
    state, _ = run(state, ocr(0.0, 5.0, last=True), now=21.0)
    assert state.finished and report_used(state, "visual", 5.0, last=True)


def test_a_run_whose_media_starts_a_little_after_zero_still_has_its_first_window_at_zero():
    late_start = [replace(r, start_s=0.033, seq=0) for r in (vision(0.0, 5.0), speech(0.0, 5.0), ocr(0.0, 5.0))]
    _, updates = run(fresh(), *late_start)
    assert [u.window.start_s for u in updates] == [0.0]
