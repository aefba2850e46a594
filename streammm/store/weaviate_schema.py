"""The Weaviate clip collection's schema: its properties, named vectors and the check of an existing one."""

from __future__ import annotations

from typing import Any

from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances, VectorFilterStrategy

from streammm.config import WeaviateConfig
from streammm.records import VECTOR_NAMES

TEXT_SEARCH_PROPERTIES = ["transcript", "ocr_text"]


def _text(name: str, *, tokenization: Tokenization, filterable: bool, searchable: bool) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=tokenization,
        index_filterable=filterable,
        index_searchable=searchable,
    )


def _stored(name: str, data_type: DataType) -> Property:
    """A property kept only to be read back: no inverted index at all."""
    return Property(name=name, data_type=data_type, index_filterable=False, index_searchable=False)


PROPERTIES: tuple[Property, ...] = (
    _text("clip_id", tokenization=Tokenization.FIELD, filterable=True, searchable=False),
    _text("stream_id", tokenization=Tokenization.FIELD, filterable=True, searchable=False),
    Property(name="start_s", data_type=DataType.NUMBER, index_filterable=True, index_range_filters=True),
    Property(name="end_s", data_type=DataType.NUMBER, index_filterable=True, index_range_filters=True),
    _text("profile", tokenization=Tokenization.FIELD, filterable=True, searchable=False),
    _text("transcript", tokenization=Tokenization.WORD, filterable=False, searchable=True),
    _text("ocr_text", tokenization=Tokenization.WORD, filterable=False, searchable=True),
    Property(
        name="tags",
        data_type=DataType.TEXT_ARRAY,
        tokenization=Tokenization.FIELD,
        index_filterable=True,
        index_searchable=False,
    ),
    _stored("words_json", DataType.TEXT),
    _stored("ocr_lines_json", DataType.TEXT),
    _stored("frame_times", DataType.NUMBER_ARRAY),
    _stored("thumbnail", DataType.TEXT),
    _stored("expected", DataType.TEXT),
    _stored("pending", DataType.TEXT),
    Property(name="incomplete", data_type=DataType.BOOL, index_filterable=True),
    _stored("run_started_at", DataType.NUMBER),
    _stored("sample_fps", DataType.NUMBER),
    _stored("frame_vectors", DataType.BLOB),  # int8 rows, one per frame time (store/rows.py)
    _stored("shot_times", DataType.NUMBER_ARRAY),
)
# Added after the first release: a collection made before them gets them added, not refused.
ADDED_LATER = ("expected", "pending", "incomplete", "run_started_at", "sample_fps", "frame_vectors", "shot_times")
PROPERTY_NAMES = [p.name for p in PROPERTIES]


def vector_config(config: WeaviateConfig | None = None) -> list[Any]:
    """One self-provided, cosine HNSW named vector per name in VECTOR_NAMES, with the HNSW and quantiser
    settings of `config` (defaults sized for 1M+ clips: docs/store.md).

    Weaviate indexes only the named vectors an object carries, so a clip without speech or text simply
    has no `speech` / `ocr` vector and never matches a search on it (no zero vectors, no flags).
    """
    c = config or WeaviateConfig()
    hnsw = Configure.VectorIndex.hnsw(
        distance_metric=VectorDistances.COSINE,
        max_connections=c.hnsw_max_connections,
        ef_construction=c.hnsw_ef_construction,
        ef=c.hnsw_ef,
        dynamic_ef_min=c.hnsw_dynamic_ef_min,
        dynamic_ef_max=c.hnsw_dynamic_ef_max,
        dynamic_ef_factor=c.hnsw_dynamic_ef_factor,
        filter_strategy=VectorFilterStrategy(c.hnsw_filter_strategy),
        quantizer=_quantizer(c),
    )
    return [Configure.Vectors.self_provided(name=name, vector_index_config=hnsw) for name in VECTOR_NAMES]


def _quantizer(config: WeaviateConfig) -> Any:
    quantizer = Configure.VectorIndex.Quantizer
    if config.quantizer == "rq":
        return quantizer.rq(bits=8, rescore_limit=config.rescore_limit)
    if config.quantizer == "sq":
        return quantizer.sq(rescore_limit=config.rescore_limit)
    if config.quantizer == "pq":
        return quantizer.pq()
    if config.quantizer == "bq":
        return quantizer.bq()
    return None  # "none": full vectors in memory


def schema_problems(existing: Any) -> list[str]:
    """What makes an existing collection's config (`collection.config.get()`) unfit for PROPERTIES and
    vector_config(); empty when it fits."""
    problems: list[str] = []
    have = {p.name: p for p in existing.properties}
    for want in PROPERTIES:
        got = have.get(want.name)
        if got is None:
            problems.append(f"property {want.name!r} is missing")
            continue
        if got.data_type != want.dataType:
            problems.append(f"property {want.name!r} is {got.data_type.value}, expected {want.dataType.value}")
        indexed = want.indexSearchable or want.indexFilterable
        if indexed and want.tokenization is not None and got.tokenization != want.tokenization:
            got_tokens = got.tokenization.value if got.tokenization else None
            problems.append(
                f"property {want.name!r} uses {got_tokens} tokenization, expected {want.tokenization.value}"
            )
        if want.indexFilterable and not got.index_filterable:
            problems.append(f"property {want.name!r} is not filterable")
        if want.indexSearchable and not got.index_searchable:
            problems.append(f"property {want.name!r} is not searchable (BM25)")
    vectors = existing.vector_config or {}
    for name in VECTOR_NAMES:
        if name not in vectors:
            problems.append(f"named vector {name!r} is missing")
            continue
        distance = getattr(vectors[name].vector_index_config, "distance_metric", None)
        if distance != VectorDistances.COSINE:
            shown = distance.value if isinstance(distance, VectorDistances) else distance
            problems.append(f"named vector {name!r} uses {shown} distance, expected cosine")
    return problems
