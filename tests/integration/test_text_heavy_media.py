"""The text-heavy video of `streammm bench ... --media text-heavy` (media/text_heavy.py write_text_heavy):
slides that change and credits that scroll, made here short (12 s: 6 s of slides, 6 s of credits). It must
last what was asked, have a keyframe every 2 s (so segments stay short), and the real OCR engine must read
each slide's title while that slide is up and the credit names as they scroll into view."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from streammm.media.probe import probe
from streammm.media.segments import longest_keyframe_gap_s
from streammm.media.text_heavy import TextHeavy, credit_line, credits_in_view, slide_text, text_heavy_screen, write_text_heavy
from streammm.stages.ocr import line_key

pytestmark = pytest.mark.integration
SHORT = {"section_s": 6.0, "slide_s": 3.0}  # slides 0-3 s and 3-6 s, credits 6-12 s
LOOK_AT_S = (1.0, 4.0, 8.0, 11.6)  # on frame boundaries at 25 fps


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text_heavy(tmp_path_factory.mktemp("text-heavy") / "text_heavy.mp4", 12.0, **SHORT)


@pytest.fixture(scope="module")
def read_at(video: Path, settings) -> dict[float, str]:
    """What the real OCR engine reads on the frames at LOOK_AT_S, each as one line_key string."""
    from streammm.models.registry import Models

    engine = Models(settings.models).ocr_engine
    frames: dict[float, np.ndarray] = {}
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            for t in LOOK_AT_S:
                if abs(float(frame.time) - t) < 0.02:
                    frames[t] = frame.to_ndarray(format="rgb24")
    assert sorted(frames) == list(LOOK_AT_S)
    return {t: " ".join(line_key(box.text) for box in engine.read(image)) for t, image in frames.items()}


def test_the_video_lasts_what_was_asked_with_a_keyframe_every_two_seconds(video: Path, settings):
    info = probe(video)
    assert info.has_video and not info.has_audio
    assert (info.width, info.height, info.video_codec) == (1280, 720, "h264")
    assert info.duration_s == pytest.approx(12.0, abs=0.05)
    with av.open(str(video)) as container:
        packets = [p for p in container.demux(video=0) if p.pts is not None]
    keyframes = sorted(float(p.pts * p.time_base) for p in packets if p.is_keyframe)
    assert len(packets) == 300
    assert keyframes == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert longest_keyframe_gap_s(video) <= settings.media.max_keyframe_gap_s  # remuxed into segments, never re-encoded


def test_ocr_reads_each_slide_title_while_that_slide_is_up(read_at: dict[float, str]):
    first, second = (line_key(slide_text(i)[0]) for i in (0, 1))
    assert first in read_at[1.0] and second not in read_at[1.0]
    assert second in read_at[4.0] and first not in read_at[4.0]
    assert line_key(slide_text(0)[1][0]) in read_at[1.0]  # a bullet line too


def test_ocr_reads_the_credit_names_as_they_scroll_into_view(read_at: dict[float, str]):
    spec = TextHeavy(12.0, **SHORT)
    early, late = credits_in_view(spec, 8.0), credits_in_view(spec, 11.6)
    assert 2 <= len(early) < len(late)
    for role, name in early:
        assert line_key(name) in read_at[8.0] and line_key(role) in read_at[8.0]
    seen_early = {name for _, name in early}
    newcomers = [name for _, name in late if name not in seen_early]
    assert newcomers
    for name in newcomers:
        assert line_key(name) in read_at[11.6] and line_key(name) not in read_at[8.0]
    assert not any(line_key(slide_text(i)[0]) in read_at[8.0] for i in range(2))


def test_the_default_video_alternates_slides_every_six_seconds_and_credits_every_thirty():
    spec = TextHeavy()
    assert text_heavy_screen(spec, 0.0) == ("slide", 0, 0.0)
    assert text_heavy_screen(spec, 6.5)[:2] == ("slide", 1)
    assert text_heavy_screen(spec, 29.9)[:2] == ("slide", 4)
    assert text_heavy_screen(spec, 31.0) == ("credits", 0, 80.0)
    assert text_heavy_screen(spec, 60.0) == ("slide", 5, 0.0)
    assert text_heavy_screen(spec, 95.0) == ("credits", spec.credits_per_section, 400.0)
    credits = 2 * spec.credits_per_section
    assert credits == 130 and len({credit_line(i)[1] for i in range(credits)}) == credits  # no name twice


@pytest.mark.parametrize("duration_s", [0.0, -5.0, math.nan, math.inf])
def test_an_invalid_duration_is_refused_before_anything_is_written(tmp_path: Path, duration_s: float):
    with pytest.raises(ValueError, match="positive"):
        write_text_heavy(tmp_path / "bad.mp4", duration_s)
    assert not (tmp_path / "bad.mp4").exists()


def test_other_invalid_options_are_refused(tmp_path: Path):
    for options in ({"size": (32, 32)}, {"fps": 0}, {"gop_s": -1.0}, {"slide_s": 0.0}):
        with pytest.raises(ValueError):
            write_text_heavy(tmp_path / "bad.mp4", 5.0, **options)
