"""The Weaviate clip store: one collection with named vectors, BM25 text and filters, via weaviate-client v4."""

from __future__ import annotations

import base64
import logging
import uuid as uuid_lib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import weaviate
from weaviate.classes.aggregate import GroupByAggregate, Metrics
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInsertManyAllFailedError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from streammm.config import WeaviateConfig
from streammm.errors import StoreError
from streammm.records import VECTOR_NAMES, Clip, ClipFilter, ScoredClip, StreamInfo
from streammm.store.checks import check_dim, check_target, checked_clip_vectors, checked_vector
from streammm.store.fusion import FusionSearch, rank_fusion_search, rank_fusion_searches
from streammm.store.rows import (
    frame_vectors_bytes,
    frame_vectors_from_bytes,
    names_from_text,
    names_text,
    ocr_lines_from_json,
    ocr_lines_json,
    words_from_json,
    words_json,
)
from streammm.store.weaviate_schema import (
    ADDED_LATER,
    PROPERTIES,
    PROPERTY_NAMES,
    TEXT_SEARCH_PROPERTIES,
    schema_problems,
    vector_config,
)

log = logging.getLogger(__name__)

# Each id fetch and each delete round stays well under the server's QUERY_MAXIMUM_RESULTS (10,000 by default).
_FETCH_CHUNK = 1000


def connect(config: WeaviateConfig) -> weaviate.WeaviateClient:
    """A connected client for `config` (REST at http_url, gRPC at grpc_host:grpc_port)."""
    parts = urlsplit(config.http_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"weaviate http_url must look like http://host:8080, got {config.http_url!r}")
    secure = parts.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=parts.hostname,
        http_port=parts.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=config.grpc_host,
        grpc_port=config.grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(config.api_key) if config.api_key else None,
        additional_config=AdditionalConfig(
            timeout=Timeout(init=min(config.timeout_s, 10.0), query=config.timeout_s, insert=config.timeout_s)
        ),
        skip_init_checks=False,
    )


class WeaviateClipStore:
    """`ClipStore` on a Weaviate server (REST for schema, gRPC for data), one collection per config."""

    def __init__(self, config: WeaviateConfig, dim: int) -> None:
        check_dim(dim)
        self.dim = dim
        self._config = config
        self._where = f"Weaviate at {config.http_url} (gRPC {config.grpc_host}:{config.grpc_port})"
        with self._errors("connecting"):
            self._client = connect(config)
        try:
            self._collection = self._ensure_collection(config.collection)
        except BaseException:
            self._client.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeaviateClipStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_collection(self, name: str) -> Any:
        with self._errors(f"checking collection {name}"):
            if not self._client.collections.exists(name):
                log.info("creating Weaviate collection %s", name)
                try:
                    return self._client.collections.create(
                        name, properties=list(PROPERTIES), vector_config=vector_config(self._config)
                    )
                except UnexpectedStatusCodeError as e:
                    if e.status_code != 422 or "already exists" not in e.message:
                        raise
                    # another worker created it in the meantime: validate theirs like any existing one
            collection = self._client.collections.use(name)
            existing = collection.config.get()
            have = {p.name for p in existing.properties}
            missing = [p for p in PROPERTIES if p.name in ADDED_LATER and p.name not in have]
            for prop in missing:
                log.info("adding property %s to Weaviate collection %s", prop.name, name)
                collection.config.add_property(prop)
            if missing:
                existing = collection.config.get()
        problems = schema_problems(existing)
        if problems:
            raise StoreError(
                f"Weaviate collection {name!r} at {self._config.http_url} exists with an incompatible schema: "
                + "; ".join(problems)
                + ". Use another store.weaviate.collection or delete it.",
                retriable=False,
            )
        return collection

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, clips: Sequence[Clip]) -> None:
        # Weaviate applies a batch's objects in no guaranteed order, so a repeated id keeps only its last clip.
        latest = {clip.clip_id: clip for clip in clips}
        objects = [self._to_object(clip) for clip in latest.values()]
        size = self._config.batch_size
        for first in range(0, len(objects), size):
            chunk = objects[first : first + size]
            with self._errors("upserting clips"):
                try:
                    result = self._collection.data.insert_many(chunk)
                except WeaviateInsertManyAllFailedError as e:
                    raise StoreError(
                        f"{self._where} rejected all {len(chunk)} clips of a batch: {e.message}", retriable=False
                    ) from e
            if result.errors:
                failed = [f"{chunk[index].uuid}: {error.message}" for index, error in sorted(result.errors.items())]
                raise StoreError(
                    f"{self._where} rejected {len(failed)} of {len(chunk)} clips "
                    f"({first} clips before this batch were stored): " + "; ".join(failed),
                    retriable=False,
                )

    def delete_stream(self, stream_id: str, *, from_s: float | None = None) -> int:
        removed = 0
        where = Filter.by_property("stream_id").equal(stream_id)
        if from_s is not None:
            where = where & Filter.by_property("start_s").greater_or_equal(float(from_s))
        while True:  # one round removes at most QUERY_MAXIMUM_RESULTS objects
            with self._errors(f"deleting stream {stream_id}"):
                result = self._collection.data.delete_many(where=where)
            if result.failed:
                raise StoreError(
                    f"{self._where} failed to delete {result.failed} of {result.matches} clips of stream {stream_id!r}",
                    retriable=True,
                )
            removed += result.successful
            if result.matches == 0 or result.successful == 0:
                return removed

    # -- reads -----------------------------------------------------------------------------------

    def search_vector(
        self, vector: np.ndarray, *, target: str, k: int, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        check_target(target)
        query = self._query_vector(vector, f"query vector for {target!r}")
        if k <= 0 or _matches_nothing(where):
            return []
        with self._errors(f"searching the {target} vectors"):
            result = self._collection.query.near_vector(
                near_vector=query,
                target_vector=target,
                limit=k,
                filters=_filters(where),
                return_properties=PROPERTY_NAMES,
                return_metadata=MetadataQuery(distance=True),
                include_vector=True,
            )
        # Cosine distance is 1 - cosine similarity.
        return [ScoredClip(_to_clip(o), 1.0 - float(o.metadata.distance)) for o in result.objects]

    def search_text(self, query: str, *, k: int, where: ClipFilter | None = None) -> list[ScoredClip]:
        if k <= 0 or not query.strip() or _matches_nothing(where):
            return []
        with self._errors("searching text"):
            result = self._collection.query.bm25(
                query=query,
                query_properties=TEXT_SEARCH_PROPERTIES,
                limit=k,
                filters=_filters(where),
                return_properties=PROPERTY_NAMES,
                return_metadata=MetadataQuery(score=True),
                include_vector=True,
            )
        return [ScoredClip(_to_clip(o), float(o.metadata.score)) for o in result.objects]

    def search_rank_fusion(
        self,
        query: str | None,
        vector: np.ndarray,
        *,
        targets: Sequence[str],
        k: int,
        depth: int,
        where: ClipFilter | None = None,
    ) -> list[ScoredClip]:
        """Reciprocal-rank fusion of the `depth` nearest clips by each of `targets` and, when `query` is not
        None, the `depth` best by BM25 (see ClipStore.search_rank_fusion), fused here from one search each."""
        for target in targets:
            check_target(target)
        self._query_vector(vector, "query vector")
        return rank_fusion_search(self, query, vector, targets=targets, k=k, depth=depth, where=where)

    def search_rank_fusion_many(
        self, searches: Sequence[FusionSearch], *, targets: Sequence[str], k: int, depth: int
    ) -> list[list[ScoredClip]]:
        return rank_fusion_searches(self, searches, targets=targets, k=k, depth=depth)

    def get(self, clip_ids: Sequence[str]) -> list[Clip]:
        wanted = list(dict.fromkeys(i for i in clip_ids if _is_uuid(i)))
        found: dict[str, Clip] = {}
        for first in range(0, len(wanted), _FETCH_CHUNK):
            chunk = wanted[first : first + _FETCH_CHUNK]
            with self._errors("fetching clips"):
                result = self._collection.query.fetch_objects(
                    filters=Filter.by_id().contains_any(chunk),
                    limit=len(chunk),
                    return_properties=PROPERTY_NAMES,
                    include_vector=True,
                )
            for o in result.objects:
                found[str(o.uuid)] = _to_clip(o)
        return [found[_canonical(i)] for i in clip_ids if _is_uuid(i) and _canonical(i) in found]

    def count(self, where: ClipFilter | None = None) -> int:
        if _matches_nothing(where):
            return 0
        with self._errors("counting clips"):
            result = self._collection.aggregate.over_all(filters=_filters(where), total_count=True)
        return int(result.total_count or 0)

    def streams(self) -> list[StreamInfo]:
        total = self.count()
        if total == 0:
            return []
        with self._errors("listing streams"):
            result = self._collection.aggregate.over_all(
                group_by=GroupByAggregate(prop="stream_id", limit=total),
                total_count=True,
                return_metrics=[Metrics("start_s").number(minimum=True), Metrics("end_s").number(maximum=True)],
            )
        infos = [
            StreamInfo(
                stream_id=_group_value(group.grouped_by.value),
                clips=int(group.total_count or 0),
                start_s=float(group.properties["start_s"].minimum),  # type: ignore[union-attr, arg-type]
                end_s=float(group.properties["end_s"].maximum),  # type: ignore[union-attr, arg-type]
            )
            for group in result.groups
        ]
        if sum(info.clips for info in infos) != total:
            # A server that caps the number of groups must not make streams() silently incomplete.
            log.warning(
                "Weaviate group-by covered %d of %d clips; scanning instead", sum(i.clips for i in infos), total
            )
            return self._streams_by_scan()
        return sorted(infos, key=lambda info: info.stream_id)

    def _streams_by_scan(self) -> list[StreamInfo]:
        spans: dict[str, list[float]] = {}
        with self._errors("scanning clips"):
            for o in self._collection.iterator(return_properties=["stream_id", "start_s", "end_s"]):
                p = o.properties
                span = spans.setdefault(str(p["stream_id"]), [0, float("inf"), float("-inf")])
                span[0] += 1
                span[1] = min(span[1], float(p["start_s"]))  # type: ignore[arg-type]
                span[2] = max(span[2], float(p["end_s"]))  # type: ignore[arg-type]
        return [StreamInfo(sid, int(n), lo, hi) for sid, (n, lo, hi) in sorted(spans.items())]

    # -- helpers ---------------------------------------------------------------------------------

    def _query_vector(self, vector: np.ndarray, what: str) -> list[float]:
        return checked_vector(vector, self.dim, what).tolist()

    def _to_object(self, clip: Clip) -> DataObject:
        if not _is_uuid(clip.clip_id):
            raise StoreError(f"clip_id must be a UUID (see streammm.store.base.clip_id), got {clip.clip_id!r}")
        vectors = {name: values.tolist() for name, values in checked_clip_vectors(clip, self.dim).items()}
        properties = {
            "clip_id": clip.clip_id,
            "stream_id": clip.stream_id,
            "start_s": float(clip.start_s),
            "end_s": float(clip.end_s),
            "profile": clip.profile,
            "transcript": clip.transcript,
            "ocr_text": clip.ocr_text,
            "tags": [str(t) for t in clip.tags],
            "words_json": words_json(clip.words),
            "ocr_lines_json": ocr_lines_json(clip.ocr_lines),
            # floats, never ints: the client sends a list of ints as int[], which a number[] property rejects
            "frame_times": [float(t) for t in clip.frame_times],
            "thumbnail": clip.thumbnail,
            "expected": names_text(clip.expected),
            "pending": names_text(clip.pending),
            "incomplete": bool(clip.pending),
            "run_started_at": float(clip.run_started_at),
            "sample_fps": float(clip.sample_fps),
            "shot_times": [float(t) for t in clip.shot_times],
        }
        frames = frame_vectors_bytes(clip, self.dim)
        if frames:  # a blob property is left out, never sent empty
            properties["frame_vectors"] = base64.b64encode(frames).decode()
        return DataObject(properties=properties, uuid=clip.clip_id, vector=vectors or None)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn client exceptions into StoreError naming the server and whether a retry can help."""
        try:
            yield
        except StoreError:
            raise
        except InsufficientPermissionsError as e:
            raise StoreError(
                f"{self._where} refused {action}: permission denied (check store.weaviate.api_key): {e.message}"
            ) from e
        except UnexpectedStatusCodeError as e:
            retriable = e.status_code >= 500 or e.status_code == 429
            hint = " (check store.weaviate.api_key)" if e.status_code in (401, 403) else ""
            raise StoreError(
                f"{self._where} failed {action}: HTTP {e.status_code}{hint}: {e.message}", retriable=retriable
            ) from e
        except (
            WeaviateConnectionError,
            WeaviateStartUpError,
            WeaviateGRPCUnavailableError,
            WeaviateTimeoutError,
            WeaviateRetryError,
        ) as e:
            if "is not supported" in e.message:  # a server older than the client accepts
                raise StoreError(f"{self._where}: {e.message}", retriable=False) from e
            raise StoreError(f"{self._where} is unreachable while {action}: {e.message}", retriable=True) from e
        except WeaviateBaseError as e:
            message = e.message
            retriable = any(s in message for s in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Deadline Exceeded"))
            raise StoreError(f"{self._where} failed {action}: {message}", retriable=retriable) from e


def _matches_nothing(where: ClipFilter | None) -> bool:
    """An empty stream list matches no clip (and Weaviate rejects filtering on an empty list)."""
    return where is not None and where.stream_ids is not None and len(where.stream_ids) == 0


def _filters(where: ClipFilter | None) -> _Filters | None:
    if where is None:
        return None
    parts: list[_Filters] = []
    if where.stream_ids is not None:
        ids = list(where.stream_ids)
        if len(ids) == 1:
            parts.append(Filter.by_property("stream_id").equal(ids[0]))
        else:
            parts.append(Filter.by_property("stream_id").contains_any(ids))
    # A clip overlaps [start_s, end_s] when it ends after the start and starts before the end.
    if where.start_s is not None:
        parts.append(Filter.by_property("end_s").greater_than(float(where.start_s)))
    if where.end_s is not None:
        parts.append(Filter.by_property("start_s").less_than(float(where.end_s)))
    if where.incomplete:
        parts.append(Filter.by_property("incomplete").equal(True))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


def _to_clip(obj: Any) -> Clip:
    p = obj.properties
    vectors = {
        name: np.asarray(values, dtype=np.float32)
        for name, values in (obj.vector or {}).items()
        if name in VECTOR_NAMES
    }
    return Clip(
        clip_id=str(obj.uuid),
        stream_id=str(p.get("stream_id") or ""),
        start_s=float(p.get("start_s") or 0.0),
        end_s=float(p.get("end_s") or 0.0),
        profile=str(p.get("profile") or ""),
        transcript=str(p.get("transcript") or ""),
        ocr_text=str(p.get("ocr_text") or ""),
        # the server may hand an empty array back as absent or null
        tags=tuple(p.get("tags") or ()),
        words=words_from_json(p.get("words_json")),
        ocr_lines=ocr_lines_from_json(p.get("ocr_lines_json")),
        frame_times=tuple(float(t) for t in (p.get("frame_times") or ())),
        vectors=vectors,
        thumbnail=str(p.get("thumbnail") or ""),
        expected=names_from_text(p.get("expected")),
        pending=names_from_text(p.get("pending")),
        run_started_at=float(p.get("run_started_at") or 0.0),
        sample_fps=float(p.get("sample_fps") or 0.0),
        frame_vectors=frame_vectors_from_bytes(base64.b64decode(p.get("frame_vectors") or ""), len(p.get("frame_times") or ())),
        shot_times=tuple(float(t) for t in (p.get("shot_times") or ())),
    )


def _group_value(value: Any) -> str:
    # a text property groups by one string; a text[] one would come back as a list
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return str(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid_lib.UUID(str(value))
    except ValueError:
        return False
    return True


def _canonical(value: str) -> str:
    return str(uuid_lib.UUID(str(value)))
