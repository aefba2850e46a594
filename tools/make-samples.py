#!/usr/bin/env python3
"""Build the sample videos in samples/ (and the dev set's derived/ slideshow) from third-party media.

    tools/make-samples.py                       # samples/ from $STREAMMM_MEDIA_DIR or ../shared/media
    tools/make-samples.py --media DIR --out samples
    tools/make-samples.py --dev-derived OUT_DIR # the dev set's derived/narrated_slideshow.* (fetch-media.sh)

Deterministic: the same inputs, PyAV (it bundles FFmpeg and x264) and Pillow versions give the same bytes
(one encoder thread, no timestamps in the container). Fonts come from matplotlib's wheel (DejaVu), a
dependency of streammm, so nothing outside the virtual environment is needed.

Inputs, all public packages (see samples/README.md for licences):
- audio/librivox/*.wav + *.json: LibriVox "Sense and Sensibility" clips and their forced alignments from
  the pocketsphinx 5.1.1 sdist (test/data/librivox); the recordings are public domain.
- images/skimage/*: photos from the scikit-image 0.26.0 wheel (public domain or CC0 each, per docstring).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
CLIPS = ("0870", "0880", "0890", "0920", "0930")  # pocketsphinx's librivox `fileids` order
CLIP_NAME = "sense_and_sensibility_01_austen_64kb-{}"
TITLE = "Sense and Sensibility, chapter one"


@dataclass(frozen=True)
class Slideshow:
    name: str  # what the words file calls the media
    images: tuple[str, ...]  # relative to the media dir, one per 5 s
    size: tuple[int, int]
    crf: int
    audio_bit_rate: int
    title_px: int
    caption_px: int


# The sample: only photos whose licence allows redistribution (public domain / CC0 per scikit-image).
SAMPLE = Slideshow(
    name="narrated_slideshow.mp4",
    images=("images/skimage/chelsea.png", "images/skimage/coffee.png", "images/skimage/rocket.jpg",
            "images/skimage/astronaut.png", "images/skimage/camera.png"),
    size=(960, 540), crf=30, audio_bit_rate=32000, title_px=34, caption_px=28,
)
# The dev set's derived/ video, as MANIFEST.md describes it (two photos are opencv-doc "research use"
# images: fine for a local dev set, not redistributed in this repository).
DEV = Slideshow(
    name="derived/narrated_slideshow.mp4",
    images=("images/skimage/chelsea.png", "images/skimage/coffee.png", "images/opencv/butterfly.jpg",
            "images/opencv/squirrel_cls.jpg", "images/skimage/motorcycle_left.png"),
    size=(1280, 720), crf=23, audio_bit_rate=64000, title_px=44, caption_px=36,
)
FPS = 25
SLIDE_S = 5.0


def font(px: int, *, mono: bool = False) -> ImageFont.FreeTypeFont:
    import matplotlib

    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans-Bold.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), px)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16000, 1, 2):
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def words_and_audio(media: Path) -> tuple[np.ndarray, list[dict], list[dict]]:
    """The five clips end to end, and their utterances and words on that timeline (forced alignment)."""
    pieces, utterances, words = [], [], []
    offset_s = 0.0
    for clip in CLIPS:
        stem = media / "audio" / "librivox" / CLIP_NAME.format(clip)
        samples = read_wav(stem.with_suffix(".wav"))
        alignment = json.loads(stem.with_suffix(".json").read_text())
        spoken = [w for w in alignment["w"] if not w["t"].startswith("<")]
        clip_words = [{"word": w["t"].split("(")[0], "start": round(offset_s + w["b"], 2),
                       "end": round(offset_s + w["b"] + w["d"], 2)} for w in spoken]
        utterances.append({"file": stem.name + ".wav", "offset": round(offset_s, 2), "start": clip_words[0]["start"],
                           "end": clip_words[-1]["end"], "text": alignment["t"]})
        words += clip_words
        pieces.append(samples)
        offset_s += len(samples) / 16000
    return np.concatenate(pieces), utterances, words


def letterbox(photo: Image.Image, size: tuple[int, int], top_px: int, bottom_px: int) -> Image.Image:
    width, height = size
    frame = Image.new("RGB", size, (16, 16, 20))
    room = (width, height - top_px - bottom_px)
    photo = photo.convert("RGB")
    scale = min(room[0] / photo.width, room[1] / photo.height)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    frame.paste(photo, ((width - photo.width) // 2, top_px + (room[1] - photo.height) // 2))
    return frame


def centred(draw: ImageDraw.ImageDraw, y: int, text: str, typeface: ImageFont.FreeTypeFont, width: int) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=typeface)
    draw.text(((width - (right - left)) // 2, y), text, font=typeface, fill=(250, 250, 250))


def slide_frames(media: Path, show: Slideshow, duration_s: float) -> list[tuple[float, float, np.ndarray, str]]:
    width, height = show.size
    band = show.title_px * 2
    slides = []
    for index, image in enumerate(show.images):
        frame = letterbox(Image.open(media / image), show.size, band, band)
        draw = ImageDraw.Draw(frame)
        centred(draw, show.title_px // 2, TITLE, font(show.title_px), width)
        caption = f"slide {index + 1} of {len(show.images)}"
        centred(draw, height - band + (band - show.caption_px) // 2, caption, font(show.caption_px), width)
        start_s = index * SLIDE_S
        end_s = duration_s if index == len(show.images) - 1 else start_s + SLIDE_S
        slides.append((start_s, end_s, np.asarray(frame), caption))
    return slides


def encode(out: Path, frames, duration_s: float, fps: int, crf: int, *, audio: np.ndarray | None = None,
           audio_bit_rate: int = 32000, gop: int | None = None, tune: str | None = None) -> None:
    """H.264 (x264, one thread) + optional AAC mono 16 kHz into MP4; `frames` yields RGB arrays at `fps`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        first = None
        video = None
        for number, rgb in enumerate(frames):
            if video is None:
                first = rgb
                video = container.add_stream("libx264", rate=fps)
                video.width, video.height = first.shape[1], first.shape[0]
                video.pix_fmt = "yuv420p"
                video.codec_context.thread_count = 1
                options = {"crf": str(crf), "preset": "medium", "threads": "1", "g": str(gop or 2 * fps),
                           "keyint_min": str(gop or 2 * fps), "sc_threshold": "0", "flags": "+bitexact"}
                if tune:
                    options["tune"] = tune
                video.codec_context.options = options
                if audio is not None:
                    sound = container.add_stream("aac", rate=16000, layout="mono")
                    sound.bit_rate = audio_bit_rate
                    sound.codec_context.options = {"flags": "+bitexact"}
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = number
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            for start in range(0, len(audio), 1024):
                chunk = audio[start:start + 1024].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="mono")
                frame.sample_rate = 16000
                frame.pts = start
                frame.time_base = Fraction(1, 16000)
                container.mux(sound.encode(frame))
            container.mux(sound.encode())


def build_slideshow(media: Path, out_dir: Path, show: Slideshow, *, how_made: str) -> Path:
    audio, utterances, words = words_and_audio(media)
    duration_s = round(len(audio) / 16000, 2)
    slides = slide_frames(media, show, duration_s)
    frame_count = round(duration_s * FPS)

    def frames():
        for number in range(frame_count):
            yield slides[min(int(number / FPS // SLIDE_S), len(slides) - 1)][2]

    out = out_dir / Path(show.name).name
    encode(out, frames(), duration_s, FPS, show.crf, audio=audio, audio_bit_rate=show.audio_bit_rate,
           gop=round(SLIDE_S * FPS), tune="stillimage")  # a keyframe at each slide, as in the dev video
    truth = {
        "media": show.name,
        "how_made": how_made,
        "timing_source": "word times = clip offset + pocketsphinx test reference alignments "
                         "(sense_and_sensibility_*.json, forced alignment, not hand-labelled)",
        "utterances": utterances,
        "words": words,
        "slides": [{"start": start_s, "end": end_s, "image": image, "text": caption}
                   for (start_s, end_s, _, caption), image in zip(slides, show.images)],
    }
    out.with_suffix(".words.json").write_text(json.dumps(truth, indent=1))
    return out


# --- a terminal session, recorded as a screencast would be ------------------------------------------------

SESSION = (  # (command typed, output printed after it)
    ("echo 'hello from streammm'", ["hello from streammm"]),
    ("ls samples", ["README.md  narrated_slideshow.mp4  terminal_session.mp4"]),
    ("python3 -c 'print(6 * 7)'", ["42"]),
    ("cat notes.txt", ["the meeting moved to room 204", "bring the blue folder"]),
)
PROMPT = "user@streammm:~$ "
TYPE_S = 0.08  # per character
PAUSE_S = 0.9  # after each command's output


def terminal_session(out_dir: Path) -> Path:
    width, height, fps = 960, 540, 10
    typeface = font(24, mono=True)
    title_font = font(18)
    line_px = 34
    # When each character appears: a timeline of (time, screen lines) states, with the ground truth beside it.
    events: list[tuple[float, list[str]]] = []
    truth = []
    lines: list[str] = []
    t = 1.0
    events.append((0.0, [PROMPT]))
    for command, output in SESSION:
        lines.append(PROMPT)
        typed_at = t
        for i in range(1, len(command) + 1):
            lines[-1] = PROMPT + command[:i]
            events.append((round(t, 2), list(lines)))
            t += TYPE_S
        t += 0.3
        lines += output
        shown_at = t
        lines.append(PROMPT)
        events.append((round(t, 2), list(lines)))
        truth.append({"command": command, "typed_from_s": round(typed_at, 2), "typed_until_s": round(shown_at - 0.3, 2),
                      "output": output, "output_from_s": round(shown_at, 2)})
        lines.pop()
        t += PAUSE_S
    duration_s = round(t + 1.0, 1)

    def render(screen: list[str], cursor_on: bool) -> np.ndarray:
        frame = Image.new("RGB", (width, height), (30, 30, 36))
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, 0, width, 36), fill=(58, 58, 66))
        for i, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
            draw.ellipse((14 + i * 24, 11, 28 + i * 24, 25), fill=colour)
        centred(draw, 8, "Terminal - ~/streammm", title_font, width)
        visible = screen[-((height - 60) // line_px):]
        for row, text in enumerate(visible):
            y = 52 + row * line_px
            draw.text((20, y), text, font=typeface, fill=(220, 220, 220))
            if row == len(visible) - 1 and cursor_on:
                left, _, right, _ = draw.textbbox((20, y), text, font=typeface)
                draw.rectangle((right + 2, y + 2, right + 14, y + 28), fill=(220, 220, 220))
        return np.asarray(frame)

    def frames():
        for number in range(round(duration_s * fps)):
            now = number / fps
            screen = [s for at, s in events if at <= now + 1e-9][-1]
            yield render(screen, cursor_on=(number // 5) % 2 == 0)

    out = out_dir / "terminal_session.mp4"
    encode(out, frames(), duration_s, fps, crf=32, gop=2 * fps)
    (out_dir / "terminal_session.timeline.json").write_text(json.dumps({
        "media": "terminal_session.mp4",
        "how_made": "Rendered by tools/make-samples.py: a terminal window (DejaVu Sans Mono from matplotlib) where "
                    "each command is typed at 12.5 characters/s and its output appears 0.3 s after the last "
                    "character; no audio. Times are exact (seconds of media time).",
        "duration_s": duration_s,
        "prompt": PROMPT,
        "commands": truth,
    }, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_media = os.environ.get("STREAMMM_MEDIA_DIR") or str(REPO.parent / "shared" / "media")
    parser.add_argument("--media", default=default_media, help="the dev media folder (default %(default)s)")
    parser.add_argument("--out", default=str(REPO / "samples"), help="where the samples go (default samples/)")
    parser.add_argument("--dev-derived", metavar="OUT_DIR", help="build the dev set's derived/ slideshow instead")
    args = parser.parse_args(argv)
    media = Path(args.media)
    if args.dev_derived:
        how = ("Audio: five LibriVox clips (pocketsphinx-5.1.1 sdist test/data/librivox), concatenated in 'fileids' "
               "order. Video: a slideshow of five photos from images/ (chelsea.png 0-5 s, coffee.png 5-10 s, "
               "butterfly.jpg 10-15 s, squirrel_cls.jpg 15-20 s, motorcycle_left.png 20-24.73 s), 1280x720 "
               "letterboxed, with burned-in text 'Sense and Sensibility, chapter one' at the top and 'slide N of 5' "
               "at the bottom. Made for this project from third-party media.")
        print(build_slideshow(media, Path(args.dev_derived), DEV, how_made=how))
        return 0
    out = Path(args.out)
    how = ("Audio: five LibriVox clips (public domain; pocketsphinx-5.1.1 sdist test/data/librivox), concatenated in "
           "'fileids' order. Video: five public-domain/CC0 photos from scikit-image 0.26.0 (chelsea 0-5 s, coffee "
           "5-10 s, rocket 10-15 s, astronaut 15-20 s, camera 20-24.73 s), 960x540 letterboxed, with burned-in text "
           "'Sense and Sensibility, chapter one' at the top and 'slide N of 5' at the bottom. "
           "Built by tools/make-samples.py.")
    print(build_slideshow(media, out, SAMPLE, how_made=how))
    print(terminal_session(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
