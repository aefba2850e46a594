"""Whether a segment's bytes begin as the container its record names, checked before any decoder sees
them: FFmpeg's format probing takes about 1 in 100 strings of random bytes for some format (H.263 video,
LRC subtitles), which would decode as nothing instead of failing as the damage it is."""

from __future__ import annotations

from streammm.errors import MediaError

# The first bytes of every file of each container a publisher writes (media.muxing.CONTAINERS).
SIGNATURES = {"matroska": b"\x1a\x45\xdf\xa3", "nut": b"nut/multimedia container\x00"}


def check_container(data: bytes, container: str) -> None:
    """MediaError when `data` does not begin as `container` (a name without a known signature, such as ""
    from an older publisher, is not checked)."""
    magic = SIGNATURES.get(container)
    if magic is not None and not data.startswith(magic):
        raise MediaError(f"the segment's bytes are not {container} (they begin {data[:8].hex(' ')})")
