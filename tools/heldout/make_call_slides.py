"""A held-out video for `streammm eval`, made here from shared media the dev set does not use.

The pyannote two-speaker phone call (audio/pyannote/sample.wav, 30 s, a human transcript per turn in
sample.stm) over five photos (astronaut, rocket, footballer, fruit, a domed building; 6 s each) with a
burned-in caption per photo. tools/heldout/queries.json labels 16 queries: speech (a speaker turn's
seconds from the STM, so a moment fitted to the matching words is narrower than its label), visual (the
photo's seconds) and on-screen text (the caption's). Nothing in the code was tuned on it.

    python tools/heldout/make_call_slides.py ../shared/media /tmp/heldout    # writes /tmp/heldout/call_slides.mp4
    streammm eval --queries tools/heldout/queries.json --media-root /tmp/heldout --data-dir /tmp/heldout/store
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SLIDES = [
    ("skimage/astronaut.png", 0.0, 6.0, "Crew portrait, 1998"),
    ("skimage/rocket.jpg", 6.0, 12.0, "Launch pad 39A"),
    ("opencv/messi5.jpg", 12.0, 18.0, "Match highlights: 2 - 1"),
    ("opencv/fruits.jpg", 18.0, 24.0, "Market prices today"),
    ("opencv/home.jpg", 24.0, 30.5, "Old town hall"),
]
WIDTH, HEIGHT, FPS = 1280, 720, 25


def main(media: Path, out_dir: Path) -> Path:
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    except OSError:
        font = ImageFont.load_default(size=40)
    pictures = []
    for path, start, end, caption in SLIDES:
        photo = Image.open(media / "images" / path).convert("RGB")
        photo.thumbnail((WIDTH, HEIGHT - 120))
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (20, 20, 30))
        canvas.paste(photo, ((WIDTH - photo.width) // 2, 10))
        ImageDraw.Draw(canvas).text((40, HEIGHT - 90), caption, fill=(255, 255, 255), font=font)
        pictures.append((start, end, np.asarray(canvas)))
    with wave.open(str(media / "audio" / "pyannote" / "sample.wav")) as audio:
        rate, channels, count = audio.getframerate(), audio.getnchannels(), audio.getnframes()
        pcm = np.frombuffer(audio.readframes(count), dtype=np.int16).reshape(-1, channels)[:, 0].copy()
    duration = min(SLIDES[-1][2], count / rate)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "call_slides.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt, video.options = WIDTH, HEIGHT, "yuv420p", {"g": "50"}
        sound = out.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i in range(int(duration * FPS)):
            image = next(p for start, end, p in pictures if start <= i / FPS < end)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        samples = pcm[: int(duration * rate)]
        for i in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[i : i + 1024].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), Path(sys.argv[2])))
