"""Which source file each file-fed stream came from, so the web page can play the stored media.

A small JSON map in the data dir (`media.json`), written by `streammm up` when it ingests a file and
read by the server. Live sources (RTSP, HLS) are not recorded: there is no file to play back.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

MEDIA_FILE = "media.json"
_LOCK = threading.Lock()


def register_media(data_dir: Path, stream_id: str, source: str | Path) -> None:
    """Remember that `stream_id` plays from the file `source` (atomically replaces the map)."""
    path = Path(data_dir) / MEDIA_FILE
    with _LOCK:
        known = _read(path)
        known[stream_id] = str(Path(source).resolve())
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)


def media_files(data_dir: Path) -> dict[str, Path]:
    """stream id -> source file, for the files that still exist."""
    known = _read(Path(data_dir) / MEDIA_FILE)
    return {sid: Path(p) for sid, p in known.items() if Path(p).is_file()}


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
