"""The align stage resuming after a restart (it must not re-emit windows stored complete before it) and
completing windows it emitted on a timeout when the late modality reports."""

from dataclasses import replace

import numpy as np

from streammm.config import AlignConfig
from streammm.records import FrameObservation, Observation, OcrLine, Word
from streammm.stages.align import AlignState, observe, ready_windows

OPTIONS = AlignConfig()  # 4 s windows, 2 s stride


def vision(start: float, end: float) -> Observation:
    frames = tuple(FrameObservation(float(t), (), np.ones(4, np.float32)) for t in range(int(start), int(end)))
    return Observation("visual", "s", 0, start, end, False, frames=frames)


def speech(start: float, end: float, *words: tuple[float, float, str]) -> Observation:
    return Observation("speech", "s", 0, start, end, False, words=tuple(Word(a, b, t) for a, b, t in words))


def ocr(start: float, end: float) -> Observation:
    return Observation("ocr", "s", 0, start, end, False)


def emitted(*reports: Observation) -> list[tuple[float, float, list[str]]]:
    state = AlignState("s", created_at=0.0)
    for report in reports:
        state = observe(state, report, OPTIONS)
    _, windows = ready_windows(state, 1.0, OPTIONS)
    return [(w.start_s, w.end_s, [x.text for x in w.words]) for w in windows]


def test_a_new_stream_starts_at_zero_whichever_modality_reports_first():
    windows = emitted(speech(0.0, 4.6, (1.0, 1.4, "hello")), vision(0.0, 5.0), ocr(0.0, 5.0))
    assert windows == [(0.0, 4.0, ["hello"])]


def test_a_restarted_aligner_resumes_at_the_latest_modality_resume_point():
    # Before the restart [0,4) .. [6,10) were stored, so speech's report [4.6, 7.0) (with "them" at
    # 6.3 s) was committed; vision and OCR still had [5,10) uncommitted. Reading again from the commits,
    # [6,10) must not be emitted again: it would lose "them" and overwrite the complete clip.
    windows = emitted(
        vision(5.0, 10.0), speech(7.0, 14.0, (7.3, 7.5, "he"), (9.4, 9.8, "man")), ocr(5.0, 10.0),
        vision(10.0, 15.0), ocr(10.0, 15.0),
    )
    assert [w[:2] for w in windows] == [(8.0, 12.0), (10.0, 14.0)]
    assert windows[0][2] == ["man"]


def test_a_window_emitted_on_a_timeout_is_emitted_again_when_the_late_modality_reports():
    # Under load the speech worker is busy for longer than the timeout: the windows go out with
    # vision and OCR only, then speech reports and the same windows go out again with its words.
    options = AlignConfig(window_s=4.0, stride_s=2.0, modality_timeout_s=15.0, lateness_s=120.0)
    state = AlignState("s", created_at=0.0)
    for report in (replace(vision(0.0, 5.0), last=True), Observation("ocr", "s", 0, 0.0, 5.0, True, ocr=(OcrLine(0.0, 5.0, "ls /usr"),))):
        state = observe(state, report, options)
    state, early = ready_windows(state, 20.0, options, {"speech": 0.0, "visual": 20.0, "ocr": 20.0})
    assert [(w.start_s, w.end_s, w.words) for w in early] == [(0.0, 4.0, ()), (2.0, 5.0, ())]
    assert not state.finished, "the windows still wait for speech"

    state = observe(state, speech(0.0, 5.0, (1.0, 1.4, "hello"), (3.0, 3.5, "world")), options)
    state, late = ready_windows(state, 25.0, options, {"speech": 25.0})
    assert [(w.start_s, w.end_s, [x.text for x in w.words], [o.text for o in w.ocr]) for w in late] == [
        (0.0, 4.0, ["hello", "world"], ["ls /usr"]),
        (2.0, 5.0, ["world"], ["ls /usr"]),
    ]
    assert state.finished


def test_a_modality_that_never_comes_back_is_given_up_after_the_lateness_limit():
    options = AlignConfig(window_s=4.0, stride_s=2.0, modality_timeout_s=15.0, lateness_s=60.0)
    state = AlignState("s", created_at=0.0)
    state = observe(state, Observation("visual", "s", 0, 0.0, 3.0, True), options)
    state = observe(state, Observation("ocr", "s", 0, 0.0, 3.0, True), options)
    state, first = ready_windows(state, 20.0, options, {"speech": 0.0})
    assert [w.start_s for w in first] == [0.0] and not state.finished
    state, again = ready_windows(state, 50.0, options, {"speech": 0.0})
    assert again == [] and not state.finished
    state, again = ready_windows(state, 81.0, options, {"speech": 0.0})
    assert again == [] and state.finished
