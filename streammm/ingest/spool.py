"""A claim-check spool: segment bytes on local disk, only a reference on the broker.

`streammm up` runs an embedded broker that keeps every message in memory for as long as it runs, so a
large batch of files would hold all their media in RAM. With a spool, a segment message carries the path
of a file holding its bytes instead; consumers read it back (bus/codec.py resolves the reference), and a
stream's files are removed once its clips are all stored and complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from streammm.records import Segment


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def write(self, segment: Segment) -> Path:
        """Store the segment's bytes; returns the file that holds them."""
        folder = self._stream_folder(segment.stream_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{segment.run.started_at:.6f}-{segment.seq:08d}.seg"
        partial = path.with_suffix(".partial")
        partial.write_bytes(segment.data)
        os.replace(partial, path)
        return path

    def discard(self, stream_id: str) -> None:
        """Remove a stream's files (its clips are complete: no consumer needs them again)."""
        shutil.rmtree(self._stream_folder(stream_id), ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*.seg")) if self.folder.is_dir() else 0

    def _stream_folder(self, stream_id: str) -> Path:
        """A folder of the spool's own for each stream id: its readable part, then a digest of the whole id,
        so that two ids never share one ("a b" and "a_b") and none leaves the spool (".." had named the
        folder above it, which `discard` would have removed with the store in it)."""
        readable = re.sub(r"[^\w-]", "_", stream_id)[:64]
        return self.folder / f"{readable}-{hashlib.sha256(stream_id.encode()).hexdigest()[:12]}"
