"""When a line of text came and went, to the frame: the strips of the frames between two samples.

The pictures are drawn here with Pillow (real glyphs, not stripes); `test_frames_carry_their_strips` decodes
a real dev video. The engine is scripted: what it reads is not under test, when the span starts is.
"""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from streammm.config import MediaConfig, OcrConfig
from streammm.media.frames import STRIP_PX, sample_frames
from streammm.media.segments import iter_segments
from streammm.models.base import TextBox
from streammm.paths import shared_media
from streammm.records import Frame
from streammm.stages.line_edges import came_at, went_at
from streammm.stages.ocr import OcrState, read_step

H, W = 180, 320
FONT = ImageFont.load_default(size=24)
MAX_DIFF = OcrConfig().same_line_diff


def grey(text: str = "", at: tuple[int, int] = (40, 60)) -> np.ndarray:
    image = Image.new("L", (W, H), 235)
    if text:
        ImageDraw.Draw(image).text(at, text, fill=20, font=FONT)
    return np.asarray(image)


def box_of(text: str, at: tuple[int, int] = (40, 60)) -> tuple[float, float, float, float]:
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (W, H))).textbbox(at, text, font=FONT)
    return (left - 2.0, top - 2.0, right + 2.0, bottom + 2.0)


def strip(pictures: list[np.ndarray], start_s: float = 1.0, fps: float = 25.0) -> tuple[tuple[float, np.ndarray], ...]:
    return tuple((round(start_s + i / fps, 3), p) for i, p in enumerate(pictures))


def test_a_line_comes_at_the_first_frame_that_shows_it_and_goes_at_the_first_that_does_not():
    shown = [grey()] * 9 + [grey("Volume 42")] * 10 + [grey()] * 7  # frames 1.00 .. 2.00 s
    pictures = strip(shown)
    assert came_at(box_of("Volume 42"), (H, W), strip(shown[:19]), MAX_DIFF) == 1.36
    assert went_at(box_of("Volume 42"), (H, W), strip(shown[9:], start_s=1.36), MAX_DIFF) == 1.76
    # Shown on the frame read before too (read late): the strips cannot say when it came.
    assert came_at(box_of("Volume 42"), (H, W), strip(shown[9:19], start_s=1.36), MAX_DIFF) is None
    # Still shown on the frame being read (the engine missed it there): nor when it went.
    assert went_at(box_of("Volume 42"), (H, W), pictures[9:19], MAX_DIFF) is None


def test_a_counter_that_ticks_ends_its_reading_at_the_frame_its_digit_changed():
    shown = [grey("00:00:07:00")] + [grey(f"00:00:07:{i:02d}") for i in range(1, 25)] + [grey("00:00:08:00")]
    assert went_at(box_of("00:00:07:00"), (H, W), strip(shown, start_s=7.0), MAX_DIFF) == 7.04
    assert came_at(box_of("00:00:08:00"), (H, W), strip(shown, start_s=7.0), MAX_DIFF) == 8.0


def pointed(picture: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    """`picture` with a mouse pointer (a white arrow outlined in black, 12 x 19 px) at `at`."""
    image = Image.fromarray(picture)
    x, y = at
    ImageDraw.Draw(image).polygon([(x, y), (x, y + 17), (x + 4, y + 13), (x + 8, y + 19), (x + 10, y + 18), (x + 7, y + 12), (x + 12, y + 12)], fill=255, outline=0)
    return np.asarray(image)


def test_a_pointer_passing_over_a_line_is_not_its_end_when_nothing_replaces_it():
    """A button's label with the pointer moving over it from the fifth frame, gone at the eleventh: most
    of it still shows under the pointer. Every block must match only where another line replaced it (a
    ticking digit is a change of one character)."""
    label = "Keep This Configuration"
    shown = [grey(label)] * 4 + [pointed(grey(label), (150 + 3 * i, 62)) for i in range(6)] + [grey()] * 6
    pictures = strip(shown)
    assert went_at(box_of(label), (H, W), pictures, MAX_DIFF, most=True) == 1.4
    assert went_at(box_of(label), (H, W), pictures, MAX_DIFF) == 1.16


def test_a_scrolling_line_is_followed_from_frame_to_frame_and_does_not_end():
    shown = [grey("Director  Ada Lovelace", at=(20, 120 - 3 * i)) for i in range(26)]  # up 3 px a frame, 75 px in all
    assert went_at(box_of("Director  Ada Lovelace", at=(20, 120)), (H, W), strip(shown), MAX_DIFF) is None
    assert came_at(box_of("Director  Ada Lovelace", at=(20, 45)), (H, W), strip(shown), MAX_DIFF) is None


def test_without_two_pictures_or_with_a_line_too_small_in_them_the_strips_cannot_tell():
    shown = [grey()] * 5 + [grey("Volume 42")] * 5
    assert came_at(box_of("Volume 42"), (H, W), (), MAX_DIFF) is None
    assert came_at(box_of("Volume 42"), (H, W), strip(shown)[-1:], MAX_DIFF) is None
    small = strip([p[::8, ::8] for p in shown])  # 40 x 22 pictures: the line is 3 px high in them
    assert came_at(box_of("Volume 42"), (H, W), small, MAX_DIFF) is None


def test_a_box_the_pictures_do_not_hold_is_not_followed():
    """Bad input: a box partly beyond the frame, or of no width, gets the halfway guess (None), never an
    edge read from the padding; a frame larger than its pictures is scaled to them."""
    shown = strip([grey()] * 5 + [grey("Volume 42")] * 5)
    for box in [(W - 40.0, 60.0, W + 60.0, 86.0), (40.0, -10.0, 120.0, 12.0), (50.0, 60.0, 50.0, 86.0)]:
        assert came_at(box, (H, W), shown, MAX_DIFF) is None, box
        assert went_at(box, (H, W), shown, MAX_DIFF, most=True) is None, box
    doubled = tuple(2 * v for v in box_of("Volume 42"))  # a frame twice the pictures' size: the same line
    assert came_at(doubled, (2 * H, 2 * W), shown, MAX_DIFF) == 1.2


class TypedLines:
    """Reads the lines it is told are on screen (the bands are not under test)."""

    def __init__(self) -> None:
        self.on_screen: list[TextBox] = []

    def read(self, image: np.ndarray) -> list[TextBox]:
        return list(self.on_screen)


def sampled(t_s: float, pictures: list[np.ndarray]) -> Frame:
    image = np.repeat(pictures[0][:, :, None], 3, axis=2)
    return Frame(t_s=t_s, image=image, strip=strip(pictures, start_s=t_s))


def test_a_word_typed_after_a_line_ends_it_when_the_longer_line_came():
    """"make", then " test" typed after it, a keystroke every 5 frames: the old line's own place still
    shows "make" (the strips cannot say it went), so it ends when the longer line came: at its last
    keystroke."""
    typed = ["make"] * 10 + ["make t"] * 5 + ["make tes"] * 5 + ["make test"] * 5  # frames 3.00 .. 3.96 s
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()  # every frame read whole
    engine.on_screen = [TextBox("make", 0.9, box_of("make"))]
    state, closed = read_step(state, [sampled(3.0, [grey(t) for t in typed])], engine, options)
    engine.on_screen = [TextBox("make test", 0.9, box_of("make test"))]
    state, closed = read_step(state, [sampled(4.0, [grey("make test")])], engine, options)
    assert [(c.text, c.start_s, c.end_s) for c in closed] == [("make", 3.0, 3.8)]
    assert [(s.text, s.start_s) for s in state.spans] == [("make test", 3.8)]


def test_frames_carry_their_strips():
    """Every decoded frame of the real timecode video is in exactly one sampled frame's strip, which holds
    that frame's own picture; without asking, no strips."""
    video = shared_media() / "video" / "moviepy_timecode_example.mp4"
    with av.open(str(video)) as container:
        decoded = [round(float(f.pts * f.time_base), 3) for f in container.decode(video=0)]
    frames = list(sample_frames(video, MediaConfig(), strip=True))
    assert [t for f in frames for t, _ in f.strip] == decoded
    assert all(f.t_s in [t for t, _ in f.strip] for f in frames)
    assert all(max(p.shape) <= 2 * STRIP_PX and p.dtype == np.uint8 for f in frames for _, p in f.strip)
    height, width = frames[0].image.shape[:2]
    assert abs(frames[0].strip[0][1].shape[0] / frames[0].strip[0][1].shape[1] - height / width) < 0.02
    assert all(f.strip == () for f in sample_frames(video, MediaConfig()))


def test_a_segments_pictures_before_its_first_sample_instant_are_in_its_first_frames_strip():
    """The real screencast's segments start at its keyframes (11.266 s, ...), the sample instants are whole
    seconds: the pictures before a segment's first sampled frame (the tooltip that appears at 11.266 s) are
    in that frame's strip, not lost between two segments'."""
    video = shared_media() / "video" / "display-dual-monitors.webm"
    segment = next(s for s in iter_segments(video, "screencast", 2.0) if 11.0 < s.start_s < 11.9)
    with av.open(io.BytesIO(segment.data)) as container:
        decoded = [round(segment.start_s + float(f.pts * f.time_base), 3) for f in container.decode(video=0)]
    frames = list(sample_frames(segment.data, MediaConfig(), offset_s=segment.start_s, end_s=segment.end_s, strip=True))
    assert frames[0].t_s > decoded[0] + 0.5
    assert [t for f in frames for t, _ in f.strip] == decoded
