"""Open the configured clip store."""

from __future__ import annotations

from pathlib import Path

from streammm.config import Settings
from streammm.store.ann import AnnOptions
from streammm.store.base import ClipStore


def data_dir(settings: Settings) -> Path:
    path = Path(settings.store.data_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_store(settings: Settings, dim: int) -> ClipStore:
    if settings.store.backend == "weaviate":
        from streammm.store.weaviate import WeaviateClipStore

        return WeaviateClipStore(settings.store.weaviate, dim)
    from streammm.store.embedded import LanceDbClipStore

    return LanceDbClipStore(data_dir(settings) / "clips", dim, optimize_every=settings.store.optimize_every, ann=ann_options(settings))


def ann_options(settings: Settings) -> AnnOptions:
    """The embedded store's vector index settings."""
    config = settings.store
    return AnnOptions(
        min_rows=config.ann_min_rows, index=config.ann_index, nprobes=config.ann_nprobes, refine_factor=config.ann_refine_factor
    )


def open_existing_store(settings: Settings, dim: int) -> ClipStore:
    """The store a reader should search: for the embedded backend, one that `up` has already written."""
    from streammm.errors import StoreError

    if settings.store.backend == "embedded" and not (Path(settings.store.data_dir).expanduser() / "clips").exists():
        raise StoreError(f"no clip store in {settings.store.data_dir} (index something first: streammm up --once --ingest FILE)")
    return open_store(settings, dim)


def open_for_listing(settings: Settings) -> ClipStore | None:
    """The configured store opened to list its streams and count its clips, without knowing the embedding
    profile's dimension (no model is loaded); None when the embedded store does not exist yet."""
    if settings.store.backend == "weaviate":
        from streammm.store.weaviate import WeaviateClipStore

        return WeaviateClipStore(settings.store.weaviate, 1)  # the dimension only checks vectors, never used here
    from streammm.store.embedded import LanceDbClipStore, stored_dim

    path = Path(settings.store.data_dir).expanduser() / "clips"
    dim = stored_dim(path)
    return LanceDbClipStore(path, dim, ann=ann_options(settings)) if dim is not None else None
