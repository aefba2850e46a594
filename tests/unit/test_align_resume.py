"""The align stage resuming after a restart: it must not re-emit (overwrite) windows stored complete before it."""

import numpy as np

from streammm.config import AlignConfig
from streammm.records import FrameObservation, Observation, Word
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
