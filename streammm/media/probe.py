"""What a media file holds, and the clear error when it holds nothing readable."""

from __future__ import annotations

from pathlib import Path

import av

from streammm.errors import MediaError
from streammm.media.reading import audio_stream, video_stream
from streammm.records import MediaInfo


def check_file(path: str | Path, *, max_file_mb: int | None = None) -> Path:
    """The path, if it names a non-empty regular file no larger than `max_file_mb`."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    if max_file_mb is not None and size > max_file_mb * 1024 * 1024:
        raise MediaError(f"{path}: {size / 1e6:.0f} MB is over the {max_file_mb} MB limit (media.max_file_mb)")
    return path


def probe(path: str | Path, *, max_file_mb: int | None = None) -> MediaInfo:
    """Streams, duration and geometry of a media file; MediaError if it is not readable media."""
    path = check_file(path, max_file_mb=max_file_mb)
    try:
        with av.open(str(path)) as container:
            video, audio = video_stream(container), audio_stream(container)
            if video is None and audio is None:
                raise MediaError(f"{path}: no audio or video stream")
            duration_s = _duration_s(container)
            return MediaInfo(
                path=str(path),
                duration_s=duration_s,
                has_video=video is not None,
                has_audio=audio is not None,
                width=video.codec_context.width if video else 0,
                height=video.codec_context.height if video else 0,
                fps=float(video.average_rate or video.guessed_rate or 0) if video else 0.0,
                video_codec=video.codec_context.name if video else "",
                audio_codec=audio.codec_context.name if audio else "",
                container=container.format.name,
            )
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({_reason(exc)})") from None


def _duration_s(container: av.container.InputContainer) -> float:
    if container.duration:
        return max(0.0, container.duration / av.time_base)
    longest = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            longest = max(longest, float(stream.duration * stream.time_base))
    return longest


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")
