import io

import av
import numpy as np

from streammm.config import MediaConfig
from streammm.media.decord_frames import _decode
from streammm.media.frame_grid import plan_frames
from streammm.media.frames import _check_grid, pyav_planned_frames


def test_grid_frames_sit_on_the_stream_timeline_and_probes_fill_between():
    starts = np.arange(0, 250) / 25.0 + 10.0  # a segment starting at 10 s, 25 fps, 10 s long
    plan = plan_frames(starts, MediaConfig(sample_fps=1.0, shot_detect_fps=4.0))
    grid = [round(starts[i], 3) for i, role in plan if role == "grid"]
    probes = [round(starts[i], 3) for i, role in plan if role == "probe"]
    assert grid == [float(t) for t in range(10, 20)]
    assert len(probes) == 30 and all(t % 1 != 0 for t in probes)


def test_no_probes_when_shot_detection_is_off():
    starts = np.arange(0, 100) / 10.0
    plan = plan_frames(starts, MediaConfig(sample_fps=2.0, shot_detect_fps=0))
    assert [role for _, role in plan] == ["grid"] * 20


class DamagedReader:
    """Stands in for a decord reader over a file whose frame 3 cannot be decoded (a batch fails whole)."""

    class Image:
        def __init__(self, value):
            self.value = value

        def asnumpy(self):
            return np.full((2, 2, 3), self.value, dtype=np.uint8)

    def get_batch(self, indices):
        raise RuntimeError("decoding failed")

    def __getitem__(self, index):
        if index >= 3:
            raise RuntimeError("decoding failed")
        return self.Image(index)


def test_a_damaged_batch_still_gives_the_frames_before_the_damage():
    images = _decode(DamagedReader(), [0, 1, 2, 3, 4], np.arange(5) / 25.0)
    assert [int(image[0, 0, 0]) for image in images] == [0, 1, 2]


def test_a_sample_instant_whose_frame_was_not_sampled_is_reported_with_every_frames_time(caplog):
    """The check behind the live test's missing second: it says which instant, and what was decoded."""
    shown = [round(15 + i / 25, 3) for i in range(125)]  # a 5 s segment at 25 fps
    with caplog.at_level("WARNING", logger="streammm.media.frames"):
        _check_grid(shown, [15.0, 16.0, 17.0, 18.0, 19.0], 1.0)
        _check_grid([0.0, 2.0, 4.0], [0.0, 2.0, 4.0], 1.0)  # a frame every 2 s stands for two instants: nothing missed
        assert caplog.records == []
        _check_grid(shown, [15.24, 16.0, 17.0, 18.0, 19.0], 1.0)
    assert len(caplog.records) == 1
    assert "[15.0] s" in caplog.text and "15.24" in caplog.text and "19.96" in caplog.text


def _two_seconds_at_25_fps() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(50):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


def test_a_segment_that_starts_microseconds_after_an_instant_samples_it():
    """The live test's missing second: after a camera froze, segments started at 15.00001 s (their edges come
    from the source's timestamps), and neither that segment (its first instant was taken to be 16 s) nor the
    one before (it ends at 15.00001 s) sampled 15 s. Consecutive segments now sample every instant once."""
    data = _two_seconds_at_25_fps()
    options = MediaConfig(sample_fps=1.0, shot_detect_fps=4.0)

    def grid(start_s: float) -> list[float]:
        return [round(t, 3) for t, _, role, _ in pyav_planned_frames(data, options, offset_s=start_s, end_s=start_s + 2.0) if role == "grid"]

    assert grid(15.00001) == [15.0, 16.0]
    assert grid(13.00001) + grid(15.00001) + grid(17.00001) == [13.0, 14.0, 15.0, 16.0, 17.0, 18.0]
    assert grid(13.0002) + grid(15.0002) == [13.96, 14.96, 15.96, 16.96]  # 0.2 ms late: the instant is the earlier segment's
    shown = [15.00001 + i / 25 for i in range(50)]
    assert plan_frames(np.asarray(shown), options)[0] == (0, "grid")  # decord's plan too


def test_the_check_sees_an_instant_just_before_a_segments_first_picture(caplog):
    shown = [15.00001 + i / 25 for i in range(125)]
    with caplog.at_level("WARNING", logger="streammm.media.frames"):
        _check_grid(shown, [16.00001, 17.00001, 18.00001, 19.00001], 1.0)
    assert "[15.0] s" in caplog.text
