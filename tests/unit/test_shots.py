"""Shot changes (media/shots.py) on real pictures and real footage.

The slide pictures are made here with Pillow from the shared media's photos (a photo on a constant canvas
with a caption, the way lecture decks and the held-out videos (tools/heldout) show them): the dev videos
have no such slide change. The camera moves, the small screen change and the hard cut are real footage.
"""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from streammm.config import MediaConfig
from streammm.media.frames import sample_frames
from streammm.media.shots import colour_histograms, is_cut
from streammm.paths import shared_media

THRESHOLD = MediaConfig().shot_threshold


def whole_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(colour_histograms(a)[0] - colour_histograms(b)[0]).sum())


def cut(a: np.ndarray, b: np.ndarray) -> bool:
    return is_cut(colour_histograms(b), colour_histograms(a), THRESHOLD)


def slide(photo: str, caption: str, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    canvas = Image.new("RGB", size, (24, 28, 40))
    picture = Image.open(shared_media() / "images" / photo).convert("RGB")
    picture.thumbnail((size[0] // 2, size[1] * 2 // 3))
    canvas.paste(picture, ((size[0] - picture.width) // 2, size[1] // 10))
    ImageDraw.Draw(canvas).text((size[0] // 4, size[1] * 5 // 6), caption, fill=(230, 230, 230))
    return np.asarray(canvas)


def photo(name: str, size: tuple[int, int]) -> np.ndarray:
    """A photo of ../shared/media/images filling the picture: a shot."""
    return np.asarray(Image.open(shared_media() / "images" / name).convert("RGB").resize(size))


def frames_at(video: str, times: list[float]) -> list[np.ndarray]:
    """The decoded pictures on screen at `times` (seconds) in a dev video."""
    found: list[np.ndarray] = []
    with av.open(str(shared_media() / "video" / video)) as container:
        wanted = iter(sorted(times))
        t = next(wanted)
        previous = None
        for frame in container.decode(video=0):
            while t is not None and float(frame.pts * frame.time_base) > t + 1e-3:
                found.append(previous)
                t = next(wanted, None)
            if t is None:
                break
            previous = frame.to_ndarray(format="rgb24")
    assert len(found) == len(times)
    return found


def test_a_photo_swapped_on_a_still_slide_is_a_cut_the_whole_picture_hardly_sees():
    before = slide("skimage/astronaut.png", "Before the launch")
    after = slide("opencv/fruits.jpg", "At the market")
    assert whole_distance(before, after) < THRESHOLD  # the whole-picture rule alone misses it
    assert cut(before, after)
    assert cut(after, slide("opencv/building.jpg", "A dome"))


def test_the_same_slide_again_or_a_caption_that_changes_is_not_a_cut():
    shown = slide("skimage/astronaut.png", "Before the launch")
    rng = np.random.default_rng(0)
    noisy = np.clip(shown.astype(np.int16) + rng.normal(0, 3, shown.shape).astype(np.int16), 0, 255).astype(np.uint8)  # coding noise
    assert not cut(shown, noisy)
    assert not cut(shown, slide("skimage/astronaut.png", "After the launch, the crew waves"))


@pytest.mark.parametrize("pair", [(1.76, 2.0), (2.76, 3.0), (3.76, 4.0), (4.0, 4.28)])
def test_a_moving_camera_within_a_shot_is_not_a_cut(pair):
    """bikes.mp4 between its cuts (1.20, 3.04, 5.48 s): the camera and the traffic move; parts of the
    picture change a lot, but every part changes."""
    a, b = frames_at("bikes.mp4", list(pair))
    assert not cut(a, b)


def test_a_small_change_on_a_still_screen_is_not_a_cut_and_an_edit_is():
    ticked = frames_at("display-dual-monitors.webm", [27.75, 28.25])  # the "Mirror displays" box is ticked
    assert not cut(*ticked)
    across = frames_at("bikes.mp4", [3.0, 3.28])  # the edit at 3.04 s
    assert cut(*across)


def test_pictures_of_another_shape_or_none_are_never_a_cut():
    shown = colour_histograms(slide("skimage/coffee.png", "Coffee"))
    assert not is_cut(shown, None, THRESHOLD)
    assert not is_cut(shown, shown[:1], THRESHOLD)  # a histogram kept from another kind of comparison
    tiny = colour_histograms(np.zeros((2, 3, 3), np.uint8))  # a 3 x 2 picture still has its histograms
    assert tiny.shape == shown.shape and np.allclose(tiny.sum(axis=1)[:1], 1.0)


def test_sampling_a_deck_adds_a_keyframe_at_each_slide_change():
    """A 6 s video of three slides (made here with PyAV and Pillow), changing at 2.0 and 4.0 s."""
    slides = [slide(p, c, (320, 180)) for p, c in [("skimage/astronaut.png", "One"), ("opencv/fruits.jpg", "Two"), ("skimage/coffee.png", "Three")]]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(60):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(slides[i // 20], format="rgb24")))
        out.mux(stream.encode())
    frames = list(sample_frames(buffer.getvalue(), MediaConfig(sample_fps=1.0, shot_detect_fps=4.0)))
    assert [f.t_s for f in frames if f.shot_change] == [2.0, 4.0]
    assert [f.cut_s for f in frames if f.shot_change] == [2.0, 4.0]  # a probe on the change: the change is there


def test_a_cut_between_two_probes_is_timed_at_the_frame_the_new_shot_starts():
    """Probes look 4 times a second; a cut in between (made here with PyAV and Pillow: 25 fps, the second
    shot from frame 28, 1.12 s) is found at the next probe (the frame shown at 1.25 s, 1.24) and timed at its first frame."""
    shots = [photo("skimage/astronaut.png", (320, 180)), photo("opencv/fruits.jpg", (320, 180))]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(75):
            picture = np.roll(shots[i >= 28], 2 * i, axis=1)  # the camera pans: every frame moves a little
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")))
        out.mux(stream.encode())
    frames = list(sample_frames(buffer.getvalue(), MediaConfig(sample_fps=1.0, shot_detect_fps=4.0)))
    cuts = [f for f in frames if f.shot_change]
    assert [(f.t_s, f.cut_s) for f in cuts] == [(1.24, 1.12)]
    assert all(f.strip == () for f in frames)  # the strips were only asked for to time it
    with_strips = list(sample_frames(buffer.getvalue(), MediaConfig(sample_fps=1.0, shot_detect_fps=4.0), strip=True))
    assert [(f.t_s, f.cut_s) for f in with_strips if f.shot_change] == [(1.24, 1.12)]
    assert sum(len(f.strip) for f in with_strips) == 75  # every decoded frame's picture, once


def test_the_cuts_of_real_footage_are_timed_to_the_frame():
    """bikes.mp4's edits, as ffmpeg's scene detection times them (../shared/media/MANIFEST.md): 1.20, 3.04,
    5.48, 7.48 and 9.68 s; probes every 0.25 s found them up to 0.2 s late."""
    frames = list(sample_frames(shared_media() / "video" / "bikes.mp4", MediaConfig()))
    assert [f.cut_s for f in frames if f.shot_change] == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68], abs=0.021)
