"""Text-heavy test media: changing slides and scrolling credits, the hard case for OCR (issue "Capacity"), for
`streammm bench ... --media text-heavy`, tests/integration/test_text_heavy_media.py and the slide questions.

What is on screen at any second is known (text_heavy_screen, slide_text, credits_in_view), so a test can
check what OCR read against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from streammm.media.synthetic import default_font

TOPICS = ("Quarterly review", "Network latency", "Storage budget", "Release plan", "Hiring update", "Support queue", "Energy use")
BULLET_WORDS = (
    ("Reduce", "Measure", "Review", "Publish", "Replace", "Archive", "Monitor", "Migrate"),
    ("ingest delay", "cache misses", "disk usage", "error rates", "build times", "query cost", "on-call load"),
    ("in Berlin", "for Oslo", "across Lisbon", "near Tokyo", "for Nairobi", "around Lima"),
)
FIRST_NAMES = ("Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya", "Luca", "Maren")
LAST_NAMES = ("Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka", "Varga", "Weber", "Yilmaz", "Zeller")  # 11, coprime to 13
ROLES = ("Director", "Producer", "Editor", "Camera", "Lighting", "Sound", "Music", "Design", "Catering", "Driver")


@dataclass(frozen=True)
class TextHeavy:
    """A text-heavy video: sections of `section_s` alternate between slides (a title and bullet lines, a new
    slide every `slide_s`) and credits (role and name lines scrolling up at `scroll_px_s`), slides first.
    Keyframes come every `gop_s` exactly (no scene-cut keyframes), so segments stay short."""

    duration_s: float = 120.0
    size: tuple[int, int] = (1280, 720)
    fps: int = 25
    gop_s: float = 2.0
    section_s: float = 30.0
    slide_s: float = 6.0
    scroll_px_s: float = 80.0
    line_px: int = 48  # credits line pitch

    def __post_init__(self) -> None:
        numbers = (self.duration_s, self.fps, self.gop_s, self.section_s, self.slide_s, self.scroll_px_s, self.line_px)
        if not all(math.isfinite(v) and v > 0 for v in numbers) or min(self.size) < 64:
            raise ValueError(f"text-heavy media needs positive, finite durations and rates and a size of at least 64 px: {self}")

    @property
    def slides_per_section(self) -> int:
        return max(1, math.ceil(self.section_s / self.slide_s))

    @property
    def credits_per_section(self) -> int:
        return math.ceil((self.size[1] + self.section_s * self.scroll_px_s) / self.line_px)


def slide_text(index: int) -> tuple[str, list[str]]:
    """Slide `index`'s (0-based) title and bullet lines."""
    verbs, things, places = BULLET_WORDS
    title = f"{index + 1}. {TOPICS[index % len(TOPICS)]}"
    bullets = [f"{verbs[(index + i) % len(verbs)]} {things[(3 * index + i) % len(things)]} {places[(index + 2 * i) % len(places)]}" for i in range(4)]
    return title, bullets


def credit_line(index: int) -> tuple[str, str]:
    """Credit `index`'s (role, name)."""
    return ROLES[index % len(ROLES)], f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index % len(LAST_NAMES)]}"


def text_heavy_screen(spec: TextHeavy, t_s: float) -> tuple[str, int, float]:
    """What is on screen at `t_s`: ("slide", slide index, 0.0) or ("credits", index of the section's first
    credit, pixels scrolled since the section began). Credits enter from the bottom edge, one per `line_px`."""
    section = int(t_s // spec.section_s)
    into = t_s - section * spec.section_s
    if section % 2 == 0:
        return "slide", (section // 2) * spec.slides_per_section + min(int(into // spec.slide_s), spec.slides_per_section - 1), 0.0
    return "credits", (section // 2) * spec.credits_per_section, into * spec.scroll_px_s


def credits_in_view(spec: TextHeavy, t_s: float) -> list[tuple[str, str]]:
    """The credits wholly in the frame at `t_s` (none during slides), top to bottom."""
    kind, first, scrolled = text_heavy_screen(spec, t_s)
    if kind != "credits":
        return []
    tops = [(i, spec.size[1] + i * spec.line_px - scrolled) for i in range(spec.credits_per_section)]
    return [credit_line(first + i) for i, top in tops if top >= 0 and top + spec.line_px <= spec.size[1]]


def write_text_heavy(path: str | Path, duration_s: float = 120.0, **options) -> Path:  # type: ignore[no-untyped-def]
    """Encode a text-heavy video (H.264 in MP4, no audio; see TextHeavy for `options`) to `path`."""
    spec = TextHeavy(duration_s=duration_s, **options)
    path = Path(path)
    gop = max(1, round(spec.gop_s * spec.fps))
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=spec.fps, options={"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"})
        stream.width, stream.height, stream.pix_fmt = *spec.size, "yuv420p"
        stream.codec_context.gop_size = gop
        drawn: dict[tuple[str, int], np.ndarray] = {}  # the current slide, or the current credits section's strip
        for i in range(round(spec.duration_s * spec.fps)):
            kind, index, scrolled = text_heavy_screen(spec, i / spec.fps)
            if (kind, index) not in drawn:
                drawn = {(kind, index): _draw_slide(spec, index) if kind == "slide" else _draw_credits(spec, index)}
            picture = drawn[(kind, index)]
            if kind == "credits":
                top = round(scrolled)
                picture = picture[top : top + spec.size[1]]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _draw_slide(spec: TextHeavy, index: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    width, height = spec.size
    image = Image.new("RGB", spec.size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    title, bullets = slide_text(index)
    unit = height / 18
    draw.rectangle((0, 0, width, int(3.2 * unit)), fill=(30, 60, 120))
    draw.text((int(1.2 * unit), int(0.8 * unit)), title, fill=(255, 255, 255), font=default_font(int(1.6 * unit)))
    for row, line in enumerate(bullets):
        y = int((5 + 2.6 * row) * unit)
        draw.ellipse((int(1.4 * unit), y + int(0.35 * unit), int(1.9 * unit), y + int(0.85 * unit)), fill=(30, 60, 120))
        draw.text((int(2.6 * unit), y), line, fill=(20, 20, 20), font=default_font(int(1.2 * unit)))
    draw.text((int(1.2 * unit), int(16.6 * unit)), f"streammm test slides - page {index + 1}", fill=(110, 110, 110), font=default_font(int(0.6 * unit)))
    return np.asarray(image)


def _draw_credits(spec: TextHeavy, first: int) -> np.ndarray:
    """A strip one frame taller than the section's scroll: credit k's line starts a frame height plus
    k line pitches down, so the frame at `scrolled` px is strip[scrolled : scrolled + height]."""
    from PIL import Image, ImageDraw

    width, height = spec.size
    strip_h = height + math.ceil(spec.section_s * spec.scroll_px_s) + height
    image = Image.new("RGB", (width, strip_h), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    font = default_font(int(spec.line_px * 0.6))
    for k in range(spec.credits_per_section):
        role, name = credit_line(first + k)
        y = height + k * spec.line_px + int(spec.line_px * 0.15)
        right = draw.textlength(role, font=font)
        draw.text((width // 2 - 24 - right, y), role, fill=(200, 200, 200), font=font)
        draw.text((width // 2 + 24, y), name, fill=(255, 255, 255), font=font)
    return np.asarray(image)
