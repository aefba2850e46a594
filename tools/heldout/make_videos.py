"""Held-out videos for `streammm eval`, made here from shared media the dev set does not use.

- `call_slides.mp4` (30 s): the pyannote two-speaker phone call (audio/pyannote/sample.wav, a human
  transcript per turn in sample.stm) over five photos (astronaut, rocket, footballer, fruit, a domed
  building; 6 s each), each with a burned-in caption.
- `speeches.mp4` (26.7 s): JFK's "ask not" (audio/whisper/jfk.flac), then the five pocketsphinx card
  readings ("ten of clubs" ... "eight of spades four of clubs seven of hearts") a second apart, over two
  captioned photos.

tools/heldout/queries.json labels 27 queries on them: speech (a speaker turn's or a reading's seconds, so
a moment fitted to the matching words is narrower than its label; JFK's whole 11 s), visual (the photo's
seconds) and on-screen text (the caption's). They were written to find defects, and found two (README
"Results"); nothing else was tuned on them.

    python tools/heldout/make_videos.py ../shared/media /tmp/heldout
    streammm eval --queries tools/heldout/queries.json --media-root /tmp/heldout --data-dir /tmp/heldout/store
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from streammm.media.compose import font, write_picture_sound_mp4

SLIDES = [
    ("skimage/astronaut.png", 0.0, 6.0, "Crew portrait, 1998"),
    ("skimage/rocket.jpg", 6.0, 12.0, "Launch pad 39A"),
    ("opencv/messi5.jpg", 12.0, 18.0, "Match highlights: 2 - 1"),
    ("opencv/fruits.jpg", 18.0, 24.0, "Market prices today"),
    ("opencv/home.jpg", 24.0, 30.5, "Old town hall"),
]
WIDTH, HEIGHT = 1280, 720


def call_slides(media: Path, out_dir: Path) -> Path:
    face = font(40)
    pictures = []
    for path, start, end, caption in SLIDES:
        photo = Image.open(media / "images" / path).convert("RGB")
        photo.thumbnail((WIDTH, HEIGHT - 120))
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (20, 20, 30))
        canvas.paste(photo, ((WIDTH - photo.width) // 2, 10))
        ImageDraw.Draw(canvas).text((40, HEIGHT - 90), caption, fill=(255, 255, 255), font=face)
        pictures.append((start, end, np.asarray(canvas)))
    with wave.open(str(media / "audio" / "pyannote" / "sample.wav")) as audio:
        rate, channels, count = audio.getframerate(), audio.getnchannels(), audio.getnframes()
        pcm = np.frombuffer(audio.readframes(count), dtype=np.int16).reshape(-1, channels)[:, 0].copy()
    duration = min(SLIDES[-1][2], count / rate)
    shown = lambda t: next(p for start, end, p in pictures if start <= t < end)  # noqa: E731
    return write_picture_sound_mp4(out_dir / "call_slides.mp4", shown, pcm[: int(duration * rate)], rate, duration)


def speeches(media: Path, out_dir: Path) -> Path:
    rate = 16000
    parts = [_mono(media / "audio" / "whisper" / "jfk.flac", rate)]
    parts += [_mono(media / "audio" / "cards" / f"00{i}.wav", rate) for i in range(1, 6)]
    gap = np.zeros(rate, np.int16)  # a second of silence after each
    samples = np.concatenate([piece for part in parts for piece in (part, gap)])
    switch_s = len(parts[0]) / rate + 0.5  # the card photo comes half a second after JFK stops
    face = font(48)

    def slide(caption: str, photo: str) -> np.ndarray:
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (240, 240, 235))
        picture = Image.open(media / "images" / photo).convert("RGB")
        picture.thumbnail((800, 520))
        canvas.paste(picture, ((WIDTH - picture.width) // 2, 20))
        ImageDraw.Draw(canvas).text((60, 600), caption, fill=(10, 10, 10), font=face)
        return np.asarray(canvas)

    first, second = slide("Inaugural address, 1961", "skimage/camera.png"), slide("Card game night", "opencv/stuff.jpg")
    return write_picture_sound_mp4(out_dir / "speeches.mp4", lambda t: first if t < switch_s else second, samples, rate, len(samples) / rate)


def _mono(path: Path, rate: int) -> np.ndarray:
    """The file's audio as 16-bit mono samples at `rate`."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks)


if __name__ == "__main__":
    media_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    print(call_slides(media_dir, out), speeches(media_dir, out))
