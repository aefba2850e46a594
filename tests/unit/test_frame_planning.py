import numpy as np

from streammm.config import MediaConfig
from streammm.media.frames import plan_frames


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
