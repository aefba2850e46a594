"""The OCR stage recognises only new text: a fake engine that detects bright text and recognises a
closed vocabulary counts what it is asked to recognise (the real RapidOCR is at the bottom)."""

import cv2
import numpy as np
import pytest

from streammm.config import OcrConfig
from streammm.records import Frame
from streammm.stages.ocr import OcrState, finish, read_step, worth_keeping

H, W = 240, 320
FONT = cv2.FONT_HERSHEY_SIMPLEX


def render(text: str) -> np.ndarray:
    """`text` in white on black, cropped to its ink."""
    canvas = np.zeros((40, 16 * len(text) + 20), dtype=np.uint8)
    cv2.putText(canvas, text, (5, 28), FONT, 0.7, 255, 2, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas > 200)
    return canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


class VocabularyOcr:
    """Detects white ink as line boxes; recognises a crop as the vocabulary line it shows."""

    def __init__(self, *vocabulary: str):
        self.pictures = {text: render(text).astype(np.float32) for text in vocabulary}
        self.recognized: list[str] = []

    def read(self, image):
        raise AssertionError("the stage detects and recognises separately")

    def detect(self, image, frame_size=None):
        ink = cv2.dilate((image.min(axis=2) > 200).astype(np.uint8), np.ones((7, 15), np.uint8))
        _, _, stats, _ = cv2.connectedComponentsWithStats(ink)
        return [(x + 5.0, y + 1.0, x + w - 5.0, y + h - 1.0) for x, y, w, h, _ in stats[1:]]  # the ink, 2 px around

    def recognize(self, crops):
        readings = [self._best(cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2GRAY).astype(np.float32)) for c in crops]
        self.recognized += [text for text, _ in readings]
        return readings

    def _best(self, crop):
        scores = {
            text: cv2.matchTemplate(crop, picture, cv2.TM_SQDIFF_NORMED).min()
            for text, picture in self.pictures.items()
            if crop.shape[0] >= picture.shape[0] and crop.shape[1] >= picture.shape[1]
        }
        best = min(scores, key=scores.get, default=None)  # the closest: "18:36" is near "18:38" too
        return (best, 0.99) if best is not None and scores[best] < 0.05 else ("?", 0.3)


def scene(t_s: float, lines=(), artwork=None, squares=()) -> Frame:
    """A frame with white `lines` [(text, x, y)], a grey moving rectangle at `artwork` (x, y), white squares."""
    image = np.zeros((H, W, 3), dtype=np.uint8)
    if artwork is not None:
        x, y = artwork
        image[y : y + 30, x : x + 40] = 120
    for text, x, y in lines:
        picture = render(text)
        image[y : y + picture.shape[0], x : x + picture.shape[1]] = picture[:, :, None]
    for x, y, side in squares:
        image[y : y + side, x : x + side] = 255
    return Frame(t_s=t_s, image=image)


def spans(state, end_s=100.0):
    return sorted((s.text, s.start_s) for s in finish(state, end_s, 1.0))


def test_a_static_line_under_moving_artwork_is_recognised_once():
    engine = VocabularyOcr("Mirror displays")
    frames = [scene(t, [("Mirror displays", 20, 100)], artwork=(230 + 12 * t, 95)) for t in range(6)]
    state, closed = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert state.frames_read == 6  # the artwork changed the line's band on every frame
    assert engine.recognized == ["Mirror displays"]
    assert closed == [] and spans(state) == [("Mirror displays", 0.0)]


def test_jitter_of_two_pixels_is_not_read_again():
    engine = VocabularyOcr("slide 3 of 5")
    frames = [scene(t, [("slide 3 of 5", 40 + 2 * (t % 2), 180 + (t % 2))]) for t in range(5)]
    state, _ = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert state.frames_read == 5 and engine.recognized == ["slide 3 of 5"]
    assert spans(state) == [("slide 3 of 5", 0.0)]


def test_a_line_that_changes_is_read_again():
    engine = VocabularyOcr("00:00:03;12", "00:00:04;12")
    frames = [scene(3.0, [("00:00:03;12", 30, 30)]), scene(4.0, [("00:00:04;12", 30, 30)]), scene(5.0, [("00:00:04;12", 30, 30)])]
    state, closed = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert engine.recognized == ["00:00:03;12", "00:00:04;12"]
    assert [(c.text, c.start_s, c.end_s) for c in closed] == [("00:00:03;12", 3.0, 3.5)]  # it changed between 3 s and 4 s
    assert spans(state) == [("00:00:04;12", 3.5)]


def test_a_small_counter_that_ticks_is_read_again_though_it_changes_little_of_its_gate_cell():
    """A countdown in a dialog, a score, a clock: one new digit in a 1280 x 720 frame changes a gate cell
    (107 x 60 px) by a few grey levels on average, under the threshold; its block (about a character)
    changes by far more. Only the line over it is read again, not the rest of the screen."""
    engine = VocabularyOcr("reset in 30 seconds", "reset in 29 seconds", "Keep This Configuration")

    def dialog(t_s: float, seconds: int) -> Frame:
        image = np.zeros((720, 1280, 3), dtype=np.uint8)
        for text, x, y in ((f"reset in {seconds} seconds", 400, 300), ("Keep This Configuration", 400, 500)):
            picture = render(text)
            image[y : y + picture.shape[0], x : x + picture.shape[1]] = picture[:, :, None]
        return Frame(t_s=t_s, image=image)

    state, closed = read_step(OcrState(), [dialog(30.0, 30), dialog(31.0, 29), dialog(32.0, 29)], engine, OcrConfig(gate_grid=12))
    assert [(c.text, c.start_s, c.end_s) for c in closed] == [("reset in 30 seconds", 30.0, 30.5)]
    assert spans(state) == [("Keep This Configuration", 30.0), ("reset in 29 seconds", 30.5)]
    assert sorted(engine.recognized) == ["Keep This Configuration", "reset in 29 seconds", "reset in 30 seconds"]


def test_among_many_lines_and_a_moving_pointer_only_the_counter_that_ticks_is_read_again():
    """The cost stays with the text that changed: a settings page of ten lines, a pointer wandering in the
    space beside them, and a clock that ticks on every frame. Each tick is one recognition; the other lines
    and the pointer are never read again."""
    labels = ["Brightness", "Contrast", "Volume", "Network", "Bluetooth", "Printers", "Keyboard", "Mouse", "Sound", "Power"]
    clocks = ["18:30", "18:38", "18:36", "18:35", "18:39"]
    engine = VocabularyOcr(*labels, *clocks)

    def page(t: int) -> Frame:
        image = np.zeros((720, 1280, 3), dtype=np.uint8)
        for i, text in enumerate(labels):
            picture = render(text)
            image[40 + 60 * i : 40 + 60 * i + picture.shape[0], 100 : 100 + picture.shape[1]] = picture[:, :, None]
        clock = render(clocks[t])
        image[20 : 20 + clock.shape[0], 1100 : 1100 + clock.shape[1]] = clock[:, :, None]
        image[300 + 40 * t : 310 + 40 * t, 800 + 30 * t : 808 + 30 * t] = 200  # the pointer, away from every line
        return Frame(t_s=float(t), image=image)

    state, closed = read_step(OcrState(), [page(t) for t in range(5)], engine, OcrConfig(gate_grid=12))
    assert sorted(engine.recognized) == sorted(labels + clocks)  # each label once, each minute once
    assert [c.text for c in closed] == clocks[:4] and len(state.lines) == 11
    assert state.area_read == 1.0  # the first frame whole; then no band: each digit is too little of its cell


def test_a_line_that_moves_with_its_window_keeps_its_text_unread():
    engine = VocabularyOcr("ls /usr")
    frames = [scene(t, [("ls /usr", 20 + 30 * t, 60 + 20 * t)]) for t in range(4)]
    state, _ = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert engine.recognized == ["ls /usr"]
    assert [line.text for line in state.lines] == ["ls /usr"]


def test_fragments_are_dropped_and_not_recognised_again():
    engine = VocabularyOcr("(--)", "Mirror displays")
    options = OcrConfig(gate_grid=12)
    frames = [
        scene(t, [("Mirror displays", 20, 100), ("(--)", 200, 30)], artwork=(270, 25 + 3 * t), squares=[(100, 20, 6), (150, 20, 30)])
        for t in range(3)
    ]
    state, _ = read_step(OcrState(), frames, engine, options)
    # the squares are too small or square to be a line: never recognised; "(--)" has no letters or digits,
    # and is not recognised again while its band keeps changing
    assert state.frames_read == 3 and sorted(engine.recognized) == ["(--)", "Mirror displays"]
    assert spans(state) == [("Mirror displays", 0.0)]


class RegroupingOcr(VocabularyOcr):
    """Detects the words of a row as one box on the frames listed in `merge_at` (the real detector groups
    a menu bar's words differently from frame to frame)."""

    def __init__(self, *vocabulary: str, merge_at=()):
        super().__init__(*vocabulary)
        self.merge_at, self.frame = set(merge_at), -1

    def detect(self, image, frame_size=None):
        self.frame += 1
        boxes = super().detect(image, frame_size)
        if self.frame not in self.merge_at or not boxes:
            return boxes
        return [(min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))]


def menu(t_s: float, words=("Arquivo", "Editar"), artwork=None) -> Frame:
    lines, x = [], 20
    for word in words:
        lines.append((word, x, 100))
        x += render(word).shape[1] + 20
    return scene(t_s, lines, artwork=artwork)


def test_known_words_the_detector_groups_into_one_box_keep_their_text_unread():
    engine = RegroupingOcr("Arquivo", "Editar", merge_at={1, 2})
    frames = [menu(0.0), menu(1.0, artwork=(250, 95)), menu(2.0, artwork=(270, 95))]
    state, closed = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert state.frames_read == 3 and engine.frame == 2  # the artwork changed the row: it was searched again
    assert engine.recognized == ["Arquivo", "Editar"]  # the merged box is the known words, not a new line
    assert closed == [] and spans(state) == [("Arquivo", 0.0), ("Editar", 0.0)]


def test_a_word_typed_next_to_known_words_is_read_even_when_grouped_with_them():
    engine = RegroupingOcr("Arquivo", "Editar", "Exibir", merge_at={1})
    state, _ = read_step(OcrState(), [menu(0.0), menu(1.0, words=("Arquivo", "Editar", "Exibir"))], engine, OcrConfig(gate_grid=12))
    assert len(engine.recognized) == 3  # the grouped box holds new ink: it is recognised


def test_readings_worth_keeping():
    options = OcrConfig()
    for text in ("slide 3 of 5", "ls /usr", "Mirror displays", "00:00:03;12", "ON"):
        assert worth_keeping(text, 0.95, options), text
    for text, score in (("0", 0.99), ("n", 0.99), ("口", 0.9), ("(--)", 0.99), ("Ur", 0.6), ("yn", 0.7), ("Hello", 0.3)):
        assert not worth_keeping(text, score, options), text


def test_frames_of_one_colour_and_of_a_pixel_read_nothing():
    engine = VocabularyOcr("Hello")
    frames = [Frame(t_s=0.0, image=np.full((H, W, 3), 255, np.uint8)), Frame(t_s=1.0, image=np.zeros((H, W, 3), np.uint8))]
    frames += [Frame(t_s=2.0, image=np.zeros((1, 1, 3), np.uint8)), Frame(t_s=3.0, image=np.zeros((H, 1, 3), np.uint8))]
    state, closed = read_step(OcrState(), frames, engine, OcrConfig(gate_grid=12))
    assert closed == [] and finish(state, 5.0, 1.0) == [] and state.frames == 4
    assert set(engine.recognized) <= {"?"}


@pytest.mark.integration
def test_the_real_engine_takes_bad_crops_and_blank_frames():
    from streammm.models.ocr import RapidOcrEngine

    engine = RapidOcrEngine(OcrConfig())
    empty, pixel, sliver = np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1, 3), np.uint8), np.zeros((1, 40, 3), np.uint8)
    assert engine.recognize([]) == []
    assert engine.recognize([empty, pixel, sliver]) == [("", 0.0)] * 3
    assert engine.detect(np.full((480, 640, 3), 200, np.uint8)) == []
    assert engine.detect(pixel) == [] and engine.read(empty) == []
    assert engine.read(np.full((480, 640, 3), 30, np.uint8)) == []


@pytest.mark.integration
def test_the_real_countdown_of_the_screencasts_dialog_is_read_as_it_ticks():
    """The real screencast (display-dual-monitors.webm): the dialog says it will reset "in 30 seconds" at
    31 s and "in 29 seconds" at 32 s; the two digits are a sliver of the 1024 x 768 frame."""
    from streammm.config import load_settings
    from streammm.media.frames import sample_frames
    from streammm.models.registry import Models
    from streammm.paths import shared_media

    settings = load_settings(env={})
    video = shared_media() / "video" / "display-dual-monitors.webm"
    frames = [f for f in sample_frames(video, settings.media, max_side_px=settings.models.ocr.max_side_px) if 30.5 < f.t_s < 32.5]
    state, closed = read_step(OcrState(), frames, Models(settings.models).ocr_engine, settings.models.ocr)
    read = [line.text for line in closed] + [line.text for line in state.lines]
    assert any("in 30 seconds" in text for text in read) and any("in 29 seconds" in text for text in read), read
