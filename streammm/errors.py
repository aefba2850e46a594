"""The error hierarchy: every error names its cause and says whether retrying can help."""

from __future__ import annotations


class StreammmError(Exception):
    """Base of every error streammm raises on purpose."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class ConfigError(StreammmError):
    """The configuration is invalid (a file, an environment variable or a flag)."""


class MediaError(StreammmError):
    """A media file or segment cannot be read: missing, empty, corrupt or of an unknown format."""


class ModelError(StreammmError):
    """A model cannot be found or loaded (wrong name, missing weights, no such device)."""


class StoreError(StreammmError):
    """The clip store cannot be opened, written or queried; retriable when the cause is I/O."""
