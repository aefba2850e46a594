"""Pictures and a sound track written as an MP4 (H.264 + AAC): media made from stills and recordings for tests
and the held-out evaluation videos (tools/heldout/make_videos.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

FPS = 25


def write_picture_sound_mp4(
    path: Path, picture_at: Callable[[float], np.ndarray], samples: np.ndarray, rate: int, duration_s: float, *, fps: int = FPS
) -> Path:
    """H.264 (`picture_at(t)`: the RGB picture at t s, all of one size; a keyframe every 2 s) and AAC mono
    (`samples`, 16-bit at `rate`) in an MP4 at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first = picture_at(0.0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt, video.options = first.shape[1], first.shape[0], "yuv420p", {"g": str(2 * fps)}
        sound = out.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i in range(int(duration_s * fps)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture_at(i / fps), format="rgb24")))
        out.mux(video.encode())
        for i in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[i : i + 1024].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path


def font(size: int):  # type: ignore[no-untyped-def]
    """DejaVu Sans at `size` px where the system has it (Debian's fonts-dejavu), else Pillow's own."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)
