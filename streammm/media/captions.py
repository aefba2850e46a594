"""A file's text subtitle track (SRT, ASS/SSA, WebVTT, MP4 timed text), or a subtitle file beside it (those,
or TTML: media/ttml.py), read as timed lines of text.

Subtitles are exact timed evidence of what was said (or written): each cue becomes an OcrLine, a line of
text shown from its start to its end at the bottom centre of the picture, where players show it. The
pipeline carries a file's cues with the segments they overlap, and the OCR worker reports them with the
text it reads (docs/architecture.md, "Subtitles"). Subtitles made of pictures (Blu-ray PGS, DVD, DVB) are
not read: only their rendering, where a video has them burned in, is.
"""

from __future__ import annotations

import bisect
import glob
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import av

from streammm.media.reading import demuxed
from streammm.media.ttml import MAX_TTML_BYTES, TtmlError, ttml_cues
from streammm.records import OcrLine

log = logging.getLogger(__name__)

TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text", "microdvd", "subviewer", "jacosub", "realtext", "sami", "mpl2", "pjs", "vplayer", "stl"})
TTML_SUFFIXES = (".ttml", ".dfxp")  # TTML subtitle files, which FFmpeg cannot read (media/ttml.py reads them)
SIDECAR_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa", *TTML_SUFFIXES)
CAPTION_X, CAPTION_Y = 0.5, 0.9  # where players show subtitles: bottom centre (OcrLine.x / .y)
UNTIMED_CUE_S = 4.0  # how long a cue without a duration shows, at most (until the next cue otherwise)
MAX_CUE_S = 60.0  # a longer cue is a damaged duration: it shows until the next cue, at most UNTIMED_CUE_S

_ASS_DRAWING = re.compile(r"\{[^}]*\\p[1-9][^}]*\}.*?(?:\{[^}]*\\p0[^}]*\}|$)", re.S)  # {\p1}m 0 0 l 100 0{\p0}: a vector shape
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")  # {\i1}, {\pos(10,20)}: styling, not text
_MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")  # <i>, <font color=...>, <c.yellow>, <v Speaker>
_ASS_BREAK = re.compile(r"\\[Nn]")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # zero-width: FFmpeg's WebVTT decoder escapes with U+2060


def caption_track(container: av.container.InputContainer) -> Any | None:
    """The subtitle stream to read: text-based, the one marked default if several are, else the first."""
    text = [s for s in container.streams.subtitles if s.codec_context.name in TEXT_CODECS]
    pictures = [s for s in container.streams.subtitles if s not in text]
    if pictures and not text:
        log.info(
            "%s: its subtitles are pictures (%s), not read (only subtitles burned into the video are)",
            Path(container.name).name, ", ".join(sorted({s.codec_context.name for s in pictures})),
        )
    default = [s for s in text if s.disposition & av.stream.Disposition.default]
    return (default or text or [None])[0]


def clean_text(raw: str) -> str:
    """A cue's words: styling tags, ASS vector drawings and markup removed, line breaks as spaces,
    whitespace collapsed."""
    text = _ASS_BREAK.sub(" ", raw).replace("\\h", " ")
    text = _MARKUP.sub("", _ASS_OVERRIDE.sub("", _ASS_DRAWING.sub(" ", text)))
    return " ".join(text.translate(_INVISIBLE).split())


def cue_text(subtitle: Any) -> str:
    """The text of one decoded subtitle rect (PyAV's AssSubtitle gives the ASS dialogue, TextSubtitle text)."""
    raw = getattr(subtitle, "dialogue", None) or getattr(subtitle, "text", None) or b""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return clean_text(str(raw))


def read_captions(path: str | Path) -> tuple[OcrLine, ...]:
    """The cues of the file's text subtitle track, on its media timeline (the clock segments use: from the
    container's start time), in order; where the file has none, those of a subtitle file beside it
    (sidecar_files); () where neither is. Damaged cues are skipped (counted in the log)."""
    name = Path(str(path)).name
    cues = _read_track(path, name, from_start=True)
    if cues is None:
        for sidecar in sidecar_files(path):
            cues = _read_track(sidecar, f"{name}: {sidecar.name}", from_start=False)
            if cues is not None:
                break
    return cues or ()


def sidecar_files(path: str | Path) -> list[Path]:
    """Subtitle files beside a media file that players would load with it: `NAME.srt` (.vtt, .ass, .ssa, .ttml,
    .dfxp), then `NAME.LANGUAGE.srt` and the like, in name order. None for a URL."""
    media = Path(str(path))
    if not media.is_file():
        return []
    exact = [media.with_suffix(s) for s in SIDECAR_SUFFIXES if media.with_suffix(s).is_file()]
    tagged = sorted(
        p for p in media.parent.glob(glob.escape(media.stem) + ".*.*")
        if p.suffix.lower() in SIDECAR_SUFFIXES and p.is_file() and p not in exact
    )
    return exact + tagged


class _Track(NamedTuple):
    timed: list[tuple[float, float | None, str]]  # (start_s, duration_s or None, text) of each cue with words
    refused: int  # packets the decoder refused
    what: str  # which stream, for the log


def _read_track(path: str | Path, name: str, *, from_start: bool) -> tuple[OcrLine, ...] | None:
    """The cues of `path`'s text subtitle track; None where it has none. A subtitle file counts from 0, a
    media file `from_start` (its container's start time). Text that is not UTF-8 (an old SRT file, most often
    Windows-1252) is refused by the decoder: the track is read again as Windows-1252."""
    if Path(str(path)).suffix.lower() in TTML_SUFFIXES:
        return _read_ttml(Path(str(path)), name)
    track = _decode_track(path, name, from_start=from_start)
    if track is None:
        return None
    if track.refused and track.refused >= len(track.timed):
        again = _decode_track(path, name, from_start=from_start, charset="CP1252")
        if again is not None and len(again.timed) > len(track.timed):
            track = again._replace(what=f"{again.what}, read as Windows-1252")
    if track.refused:
        log.warning("%s: skipped %d damaged subtitle packets", name, track.refused)
    cues = with_ends(track.timed)
    log.info("%s: %d subtitle cues read from %s", name, len(cues), track.what)
    return cues


def _read_ttml(path: Path, name: str) -> tuple[OcrLine, ...] | None:
    """The cues of a TTML subtitle file (counting from 0); None where it cannot be read as one (logged)."""
    try:
        size = path.stat().st_size
        if size > MAX_TTML_BYTES:  # refused before it is read into memory
            raise TtmlError(f"{size:,} bytes: larger than the {MAX_TTML_BYTES:,} a subtitle file may be")
        cues = ttml_cues(path.read_bytes())
    except (OSError, TtmlError) as exc:
        log.warning("%s: its subtitles could not be read (%s)", name, exc)
        return None
    if cues.skipped:
        log.warning("%s: skipped %d cues whose times could not be read", name, cues.skipped)
    timed = [(start_s, None if end_s is None else end_s - start_s, clean_text(text)) for start_s, end_s, text in cues.timed]
    lines = with_ends([cue for cue in timed if cue[2]])
    log.info("%s: %d subtitle cues read from the TTML file", name, len(lines))
    return lines


def _decode_track(path: str | Path, name: str, *, from_start: bool, charset: str | None = None) -> _Track | None:
    """The file's text subtitle track, decoded; None where it has none or cannot be opened (logged)."""
    try:
        with av.open(str(path)) as container:
            stream = caption_track(container)
            if stream is None:
                return None
            if charset is not None:
                stream.codec_context.options = {"sub_charenc": charset}
            origin_s = (container.start_time or 0) / av.time_base if from_start else 0.0
            timed, refused = _cues(container, stream, origin_s, name)
            language = stream.metadata.get("language", "")
            return _Track(timed, refused, f"stream {stream.index} ({stream.codec_context.name}{', ' + language if language else ''})")
    except av.error.FFmpegError as exc:
        log.warning("%s: its subtitles could not be read (%s)", name, exc)
        return None


def _cues(container: Any, stream: Any, origin_s: float, name: str) -> tuple[list[tuple[float, float | None, str]], int]:
    """(start_s, duration_s or None, text) of every cue with words, and how many packets the decoder refused."""
    timed: list[tuple[float, float | None, str]] = []
    refused = 0
    for packet in demuxed(container, stream, name=name):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.size == 0:
            continue
        try:
            subtitles = packet.decode()
        except (av.error.FFmpegError, ValueError, UnicodeDecodeError):
            refused += 1
            continue
        start_s = float(ts * packet.time_base) - origin_s
        duration_s = float(packet.duration * packet.time_base) if packet.duration else None
        for subtitle_set in subtitles:
            text = " ".join(t for t in (cue_text(s) for s in _rects(subtitle_set)) if t)
            if text:
                timed.append((start_s, duration_s, text))
    return timed, refused


def _rects(subtitle_set: Any) -> Sequence[Any]:
    try:
        return list(subtitle_set)
    except TypeError:
        return [subtitle_set]  # PyAV 18 decodes a text cue to one subtitle object


def with_ends(timed: Sequence[tuple[float, float | None, str]]) -> tuple[OcrLine, ...]:
    """OcrLines from (start_s, duration_s or None, text): a cue without a usable duration shows until the
    next cue starts, at most UNTIMED_CUE_S. Cues before 0 are cut at 0; cues wholly before it are dropped."""
    ordered = sorted(timed, key=lambda c: c[0])
    starts = [start_s for start_s, _, _ in ordered]
    lines = []
    for start_s, duration_s, text in ordered:
        if duration_s is None or not 0 < duration_s <= MAX_CUE_S:
            later = bisect.bisect_right(starts, start_s)  # the next cue that starts after this one
            duration_s = min(UNTIMED_CUE_S, starts[later] - start_s) if later < len(starts) else UNTIMED_CUE_S
        end_s = start_s + duration_s
        if end_s <= 0:
            continue
        lines.append(OcrLine(max(0.0, round(start_s, 3)), round(end_s, 3), text, 1.0, CAPTION_X, CAPTION_Y))
    return tuple(lines)


def overlapping(cues: Sequence[OcrLine], start_s: float, end_s: float, *, first: bool = False, last: bool = False) -> tuple[OcrLine, ...]:
    """The cues shown during [start_s, end_s); the first segment also takes every cue before it, the last
    every cue after it."""
    return tuple(c for c in cues if (first or c.end_s > start_s) and (last or c.start_s < end_s))
