"""Where the shared development media lives (used by demos, benchmarks and the evaluation harness)."""

from __future__ import annotations

import os
from pathlib import Path

from streammm.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_media() -> Path:
    """`$STREAMMM_MEDIA_DIR`, else `../shared/media` beside the checkout."""
    configured = os.environ.get("STREAMMM_MEDIA_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "media"
    if not path.is_dir():
        raise ConfigError(f"shared media not found at {path} (set STREAMMM_MEDIA_DIR)")
    return path
