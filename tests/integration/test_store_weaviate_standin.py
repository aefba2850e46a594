"""WeaviateClipStore, driving the unmodified weaviate-client against an in-process stand-in server.

The shared ClipStore contract runs here in full against the stand-in, except what the stand-in cannot
emulate (skipped, saying why). The wire tests below check what the adapter sends: the schema it creates,
the UUIDs, named vectors, filters and BM25 properties, and how it decodes replies into Clips. The stand-in
answers with exact cosine and a naive term count, so it cannot judge real BM25 scores, HNSW recall, real
server defaults or the real server's validation; tests/integration/test_store_weaviate.py runs the
contract against a real Weaviate for that.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import weaviate.connect.v4
from weaviate.proto.v1 import base_pb2
from store_contract import DIM as CONTRACT_DIM
from store_contract import ClipStoreContract
from weaviate_standin import WeaviateStandIn

from streammm.config import WeaviateConfig
from streammm.errors import StoreError
from streammm.records import Clip, ClipFilter, OcrLine, StreamInfo, Word
from streammm.store.base import clip_id
from streammm.store.weaviate import WeaviateClipStore

pytestmark = pytest.mark.integration

DIM = 8
F = base_pb2.Filters
# Servers before and after the client's wire changes (named query vectors in `vectors`, hybrid `alpha_param`,
# server-side default vector index type).
VERSIONS = ["1.32.0", "1.37.5"]


@pytest.fixture(params=VERSIONS)
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeaviateStandIn]:
    with WeaviateStandIn(version=request.param) as standin:
        # the client checks PyPI for a newer release on connect; keep that on this machine
        monkeypatch.setattr(weaviate.connect.v4, "PYPI_PACKAGE_URL", standin.pypi_url)
        yield standin


@pytest.fixture
def open_store(server: WeaviateStandIn) -> Iterator[Callable[..., WeaviateClipStore]]:
    stores: list[WeaviateClipStore] = []

    def make(**overrides: object) -> WeaviateClipStore:
        settings = {"http_url": server.http_url, "grpc_port": server.grpc_port, "collection": "Clips", **overrides}
        store = WeaviateClipStore(WeaviateConfig(**settings), dim=DIM)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def make_clip(stream_id: str, index: int, *, speech: bool = True, transcript: str | None = None) -> Clip:
    start_s = 2.0 * index
    seed = hash((stream_id, index)) % 10_000
    vectors = {"visual": unit(seed), "joint": unit(seed + 1)}
    if speech:
        vectors["speech"] = unit(seed + 2)
    return Clip(
        clip_id=clip_id(stream_id, start_s, "bundled"),
        stream_id=stream_id,
        start_s=start_s,
        end_s=start_s + 4.0,
        profile="bundled",
        transcript=transcript if transcript is not None else f"the quick brown fox number {index}",
        ocr_text=f"slide {index}" if index % 2 else "",
        tags=("person", "whiteboard") if index % 2 else (),
        words=(Word(start_s + 0.25, start_s + 0.5, "the", 0.875), Word(start_s + 0.5, start_s + 0.9, "quick", 0.5)),
        ocr_lines=(OcrLine(start_s, start_s + 1.5, f"slide {index}", 0.9375),) if index % 2 else (),
        frame_times=(start_s, start_s + 1.0, start_s + 3.0),
        vectors=vectors,
        thumbnail=f"{stream_id}-{index}.jpg",
        expected=("visual", "speech", "ocr"),
        pending=("ocr",) if index % 3 == 0 else (),
        run_started_at=1764600000.5 + index,
        sample_fps=0.5,
    )


def assert_same_clip(got: Clip, want: Clip) -> None:
    for name in (
        "clip_id",
        "stream_id",
        "start_s",
        "end_s",
        "profile",
        "transcript",
        "ocr_text",
        "tags",
        "words",
        "ocr_lines",
        "frame_times",
        "thumbnail",
        "expected",
        "pending",
        "run_started_at",
        "sample_fps",
    ):
        assert getattr(got, name) == getattr(want, name), name
    assert sorted(got.vectors) == sorted(want.vectors)
    for name, vector in want.vectors.items():
        assert got.vectors[name].dtype == np.float32
        np.testing.assert_array_equal(got.vectors[name], vector)


def query_vector(search: object) -> np.ndarray:
    raw = search.vectors[0].vector_bytes if len(search.vectors) else search.vector_bytes  # type: ignore[attr-defined]
    return np.frombuffer(raw, dtype="<f4")


def targets(search: object) -> list[str]:
    return list(search.targets.target_vectors) or list(search.target_vectors)  # type: ignore[attr-defined]


def leaves(f: base_pb2.Filters) -> list[tuple[str, str, object]]:
    """(property, operator, value) of every comparison in a filter tree."""
    if f.operator in (F.OPERATOR_AND, F.OPERATOR_OR):
        return [leaf for sub in f.filters for leaf in leaves(sub)]
    kind = f.WhichOneof("test_value")
    value = getattr(f, kind)
    if kind.endswith("_array"):
        value = list(value.values)
    return [(f.target.property, F.Operator.Name(f.operator), value)]


# -- the shared contract ---------------------------------------------------------------------------


class TestWeaviateStoreOnTheStandIn(ClipStoreContract):
    """The contract every ClipStore passes, against the stand-in (once per server version it mimics)."""

    @pytest.fixture
    def store_factory(self, server: WeaviateStandIn) -> Callable[[], WeaviateClipStore]:
        config = WeaviateConfig(http_url=server.http_url, grpc_port=server.grpc_port, collection="Clips")
        return lambda: WeaviateClipStore(config, dim=CONTRACT_DIM)


# -- schema ----------------------------------------------------------------------------------------


def test_creates_the_collection_with_exact_filters_bm25_text_and_cosine_named_vectors(server, open_store):
    open_store()
    [created] = server.calls("POST /v1/schema", protocol="rest")
    assert created["class"] == "Clips"
    props = {p["name"]: p for p in created["properties"]}
    assert set(props) == {
        "clip_id",
        "stream_id",
        "start_s",
        "end_s",
        "profile",
        "transcript",
        "ocr_text",
        "tags",
        "words_json",
        "ocr_lines_json",
        "frame_times",
        "thumbnail",
        "expected",
        "pending",
        "incomplete",
        "run_started_at",
        "sample_fps",
        "frame_vectors",
        "shot_times",
    }
    assert props["incomplete"]["dataType"] == ["boolean"] and props["incomplete"]["indexFilterable"] is True
    for name in ("clip_id", "stream_id", "profile"):
        assert props[name]["dataType"] == ["text"] and props[name]["tokenization"] == "field"
        assert props[name]["indexSearchable"] is False
    for name in ("transcript", "ocr_text"):
        assert props[name]["dataType"] == ["text"] and props[name]["tokenization"] == "word"
        assert props[name]["indexSearchable"] is True
    for name in ("start_s", "end_s"):
        assert props[name]["dataType"] == ["number"] and props[name]["indexRangeFilters"] is True
    assert props["tags"]["dataType"] == ["text[]"]
    assert props["frame_times"]["dataType"] == props["shot_times"]["dataType"] == ["number[]"]
    assert props["frame_vectors"]["dataType"] == ["blob"]
    for name in ("words_json", "ocr_lines_json", "frame_times", "thumbnail", "frame_vectors", "shot_times"):
        assert props[name]["indexSearchable"] is False and props[name]["indexFilterable"] is False
    assert set(created["vectorConfig"]) == {"visual", "speech", "ocr", "joint"}
    for config in created["vectorConfig"].values():
        assert config["vectorizer"] == {"none": {}}
        assert config["vectorIndexConfig"]["distance"] == "cosine"


def test_each_named_vector_gets_the_hnsw_and_quantiser_settings_sized_for_a_million_clips(server, open_store):
    open_store()
    [created] = server.calls("POST /v1/schema", protocol="rest")
    for name, config in created["vectorConfig"].items():
        index = config["vectorIndexConfig"]
        assert (index["maxConnections"], index["efConstruction"], index["ef"]) == (32, 256, -1), name
        assert (index["dynamicEfMin"], index["dynamicEfMax"], index["dynamicEfFactor"]) == (100, 500, 8), name
        assert index["filterStrategy"] == "acorn", name
        assert index["rq"]["enabled"] is True and index["rq"]["bits"] == 8 and index["rq"]["rescoreLimit"] == 200, name
    server.clear_requests()
    open_store(collection="Plain", quantizer="none", hnsw_max_connections=64, hnsw_ef=128, hnsw_filter_strategy="sweeping")
    [created] = server.calls("POST /v1/schema", protocol="rest")
    index = created["vectorConfig"]["joint"]["vectorIndexConfig"]
    assert (index["maxConnections"], index["ef"], index["filterStrategy"]) == (64, 128, "sweeping")
    assert not any(index.get(q, {}).get("enabled") for q in ("rq", "pq", "sq", "bq"))


def test_reopening_validates_the_existing_collection_instead_of_creating_it(server, open_store):
    open_store().close()
    server.clear_requests()
    open_store()
    assert server.calls("POST /v1/schema", protocol="rest") == []
    assert len(server.calls("GET /v1/schema/Clips", protocol="rest")) == 2  # exists, then config.get


def test_a_collection_created_by_another_worker_meanwhile_is_validated_and_used(server, open_store, monkeypatch):
    open_store().close()  # the other worker's collection
    answer = server.handle_rest
    hidden = []

    def first_lookup_misses(method: str, path: str, body: object) -> tuple[int, object]:
        if (method, path) == ("GET", "/v1/schema/Clips") and not hidden:
            hidden.append(path)
            return 404, None
        return answer(method, path, body)

    monkeypatch.setattr(server, "handle_rest", first_lookup_misses)
    server.clear_requests()
    store = open_store()
    assert len(server.calls("POST /v1/schema", protocol="rest")) == 1  # refused: it already exists
    store.upsert([make_clip("cam1", 0)])
    assert store.count() == 1


def test_an_incompatible_existing_collection_is_refused_naming_the_problems(server, open_store):
    open_store().close()
    schema = server.schemas["Clips"]
    next(p for p in schema["properties"] if p["name"] == "stream_id")["tokenization"] = "word"
    del schema["vectorConfig"]["ocr"]
    with pytest.raises(StoreError) as caught:
        open_store()
    message = str(caught.value)
    assert "'stream_id' uses word tokenization, expected field" in message
    assert "named vector 'ocr' is missing" in message
    assert caught.value.retriable is False


# -- writes ----------------------------------------------------------------------------------------


def test_upsert_sends_clip_ids_as_uuids_and_only_the_named_vectors_a_clip_has(server, open_store):
    store = open_store(batch_size=2)
    clips = [make_clip("cam1", i, speech=i != 1) for i in range(5)]
    store.upsert(clips)
    batches = server.calls("BatchObjects")
    assert [len(b.objects) for b in batches] == [2, 2, 1]
    sent = [o for b in batches for o in b.objects]
    assert [o.uuid for o in sent] == [c.clip_id for c in clips]
    for obj, clip in zip(sent, clips, strict=True):
        assert obj.collection == "Clips"
        assert not obj.vector_bytes  # no unnamed vector
        vectors = {v.name: np.frombuffer(v.vector_bytes, dtype="<f4") for v in obj.vectors}
        assert sorted(vectors) == sorted(clip.vectors)  # the clip without speech sends no speech vector
        for name, vector in vectors.items():
            np.testing.assert_array_equal(vector, clip.vectors[name])
        assert obj.properties.non_ref_properties["stream_id"] == "cam1"
        assert obj.properties.non_ref_properties["start_s"] == clip.start_s
    assert store.count() == 5


def test_reupserting_the_same_clips_overwrites_them(open_store):
    store = open_store()
    store.upsert([make_clip("cam1", i) for i in range(3)])
    store.upsert([make_clip("cam1", i, transcript="replaced") for i in range(3)])
    assert store.count() == 3
    assert {c.transcript for c in store.get([make_clip("cam1", i).clip_id for i in range(3)])} == {"replaced"}


def test_a_repeated_clip_id_in_one_upsert_sends_only_the_last_clip(server, open_store):
    store = open_store()
    older, newer = make_clip("cam1", 0, transcript="older"), make_clip("cam1", 0, transcript="newer")
    store.upsert([older, make_clip("cam1", 1), newer])
    [batch] = server.calls("BatchObjects")
    assert [o.uuid for o in batch.objects] == [newer.clip_id, make_clip("cam1", 1).clip_id]
    assert batch.objects[0].properties.non_ref_properties["transcript"] == "newer"


def test_a_partly_rejected_batch_raises_listing_each_failed_clip(server, open_store):
    store = open_store()
    clips = [make_clip("cam1", i) for i in range(4)]
    server.reject[clips[1].clip_id] = "store is read-only"
    server.reject[clips[3].clip_id] = "disk full"
    with pytest.raises(StoreError) as caught:
        store.upsert(clips)
    message = str(caught.value)
    assert "rejected 2 of 4 clips" in message
    assert f"{clips[1].clip_id}: store is read-only" in message
    assert f"{clips[3].clip_id}: disk full" in message
    assert caught.value.retriable is False


def test_a_wholly_rejected_batch_raises_with_the_server_message(server, open_store):
    store = open_store()
    clip = make_clip("cam1", 0)
    server.reject[clip.clip_id] = "vector lengths don't match"
    with pytest.raises(StoreError, match="rejected all 1 clips of a batch: .*vector lengths don't match"):
        store.upsert([clip])


def test_a_vector_of_the_wrong_dimension_is_refused_before_sending(server, open_store):
    store = open_store()
    clip = make_clip("cam1", 0)
    bad = Clip(**{**clip.__dict__, "vectors": {"visual": np.ones(DIM + 1, dtype=np.float32)}})
    with pytest.raises(StoreError, match="vector 'visual' must be a finite, non-zero 8-d vector, got shape \\(9,\\)"):
        store.upsert([bad])
    assert server.calls("BatchObjects") == []


# -- reads -----------------------------------------------------------------------------------------


def test_vector_search_targets_the_named_vector_and_decodes_full_clips(server, open_store):
    """The stand-in ranks by exact cosine, so this checks the request and decoding, not HNSW recall."""
    store = open_store()
    clips = [make_clip("cam1", i, speech=i != 2) for i in range(4)]
    store.upsert(clips)
    query = clips[1].vectors["speech"]
    found = store.search_vector(query, target="speech", k=10)
    [request] = server.calls("Search")
    assert targets(request.near_vector) == ["speech"]
    np.testing.assert_array_equal(query_vector(request.near_vector), query)
    assert request.limit == 10
    assert request.metadata.distance
    assert not request.HasField("filters")
    # the clip without a speech vector is not in the reply, and the adapter adds nothing
    assert sorted(s.clip.clip_id for s in found) == sorted(c.clip_id for i, c in enumerate(clips) if i != 2)
    by_id = {c.clip_id: c for c in clips}
    for scored in found:
        assert_same_clip(scored.clip, by_id[scored.clip.clip_id])
        # score = 1 - cosine distance = cosine similarity
        assert scored.score == pytest.approx(
            float(np.dot(query, by_id[scored.clip.clip_id].vectors["speech"])), abs=1e-5
        )
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_text_search_asks_bm25_over_transcript_and_ocr_text(server, open_store):
    """The stand-in's score is a naive term count, not BM25: only the request and decoding are checked."""
    store = open_store()
    clips = [make_clip("cam1", i) for i in range(3)]
    store.upsert(clips)
    found = store.search_text("slide fox", k=2, where=ClipFilter(stream_ids=("cam1",)))
    [request] = server.calls("Search")
    assert request.bm25_search.query == "slide fox"
    assert list(request.bm25_search.properties) == ["transcript", "ocr_text"]
    assert request.limit == 2
    assert leaves(request.filters) == [("stream_id", "OPERATOR_EQUAL", "cam1")]
    assert request.metadata.score
    assert len(found) == 2
    assert_same_clip(found[0].clip, clips[1])  # "slide" and "fox": the stand-in's count puts it first
    assert found[0].score == 2.0 and found[1].score == 1.0  # scores are passed through from the reply
    assert store.search_text("   ", k=5) == []


def test_filters_select_streams_and_clips_overlapping_a_time_range(server, open_store):
    store = open_store()
    store.upsert([make_clip(s, i) for s in ("cam1", "cam2", "cam3") for i in range(4)])  # [0,4) [2,6) [4,8) [6,10)
    where = ClipFilter(stream_ids=("cam1", "cam2"), start_s=4.0, end_s=6.0)
    found = store.search_vector(unit(7), target="visual", k=20, where=where)
    request = server.calls("Search")[-1]
    assert request.filters.operator == F.OPERATOR_AND
    assert sorted(leaves(request.filters)) == [
        ("end_s", "OPERATOR_GREATER_THAN", 4.0),
        ("start_s", "OPERATOR_LESS_THAN", 6.0),
        ("stream_id", "OPERATOR_CONTAINS_ANY", ["cam1", "cam2"]),
    ]
    # [2,6) and [4,8) overlap [4,6]; [0,4) ends at its start and [6,10) starts at its end
    assert sorted((s.clip.stream_id, s.clip.start_s) for s in found) == [
        ("cam1", 2.0),
        ("cam1", 4.0),
        ("cam2", 2.0),
        ("cam2", 4.0),
    ]
    assert store.count(ClipFilter(start_s=9.0)) == 3
    assert store.count(ClipFilter(end_s=1.0)) == 3
    assert store.count(ClipFilter(stream_ids=())) == 0


def test_get_returns_existing_clips_in_the_order_asked(open_store):
    store = open_store()
    clips = [make_clip("cam1", i) for i in range(4)]
    store.upsert(clips)
    missing = clip_id("nowhere", 0.0, "bundled")
    got = store.get([clips[3].clip_id, missing, clips[0].clip_id, "not-a-uuid", clips[2].clip_id])
    assert [c.clip_id for c in got] == [clips[3].clip_id, clips[0].clip_id, clips[2].clip_id]
    for clip in got:
        assert_same_clip(clip, next(c for c in clips if c.clip_id == clip.clip_id))
    assert store.get([]) == []


def test_words_and_ocr_lines_stored_by_an_earlier_release_read_back(server, open_store):
    """Earlier releases kept a word or OCR line as a JSON list of its fields in order, not an object."""
    store = open_store()
    clip = make_clip("cam1", 1)
    store.upsert([clip])
    stored = server.objects["Clips"][clip.clip_id].properties
    stored["words_json"] = json.dumps([[w.start_s, w.end_s, w.text, w.probability] for w in clip.words])
    stored["ocr_lines_json"] = json.dumps([[o.start_s, o.end_s, o.text, o.score, o.x, o.y] for o in clip.ocr_lines])
    [got] = store.get([clip.clip_id])
    assert got.words == clip.words and got.ocr_lines == clip.ocr_lines and got.ocr_lines


def test_count_and_streams_summarise_each_stream(open_store):
    store = open_store()
    store.upsert([make_clip("cam2", i) for i in range(2)] + [make_clip("cam1", i) for i in range(3)])
    assert store.count() == 5
    assert store.count(ClipFilter(stream_ids=("cam1",))) == 3
    assert store.streams() == [StreamInfo("cam1", 3, 0.0, 8.0), StreamInfo("cam2", 2, 0.0, 6.0)]


def test_streams_does_not_trust_a_group_by_that_misses_clips(server, open_store):
    store = open_store()
    store.upsert([make_clip("cam2", i) for i in range(2)] + [make_clip("cam1", i) for i in range(3)])
    server.max_groups = 1  # a server that returns fewer groups than asked
    server.clear_requests()
    assert store.streams() == [StreamInfo("cam1", 3, 0.0, 8.0), StreamInfo("cam2", 2, 0.0, 6.0)]
    assert server.calls("Search"), "expected a scan over all clips"


def test_delete_stream_repeats_until_the_server_reports_no_more_matches(server, open_store):
    store = open_store()
    store.upsert([make_clip("cam1", i) for i in range(5)] + [make_clip("cam2", 0)])
    server.max_deletes_per_request = 2  # like QUERY_MAXIMUM_RESULTS on a real server
    assert store.delete_stream("cam1") == 5
    requests = server.calls("BatchDelete")
    assert len(requests) == 4  # 2 + 2 + 1, then one that matches nothing
    assert all(leaves(r.filters) == [("stream_id", "OPERATOR_EQUAL", "cam1")] for r in requests)
    assert store.streams() == [StreamInfo("cam2", 1, 0.0, 4.0)]
    assert store.delete_stream("cam1") == 0


def test_an_unknown_vector_name_is_refused_before_sending(server, open_store):
    with pytest.raises(StoreError, match="unknown vector target 'audio'"):
        open_store().search_vector(unit(1), target="audio", k=3)
    assert server.calls("Search") == []


def test_a_clip_id_that_is_not_a_uuid_is_refused_before_sending(server, open_store):
    store = open_store()
    clip = Clip(**{**make_clip("cam1", 0).__dict__, "clip_id": "cam1-0"})
    with pytest.raises(StoreError, match="clip_id must be a UUID") as caught:
        store.upsert([clip])
    assert caught.value.retriable is False
    assert server.calls("BatchObjects") == []


def test_a_dimension_that_is_not_positive_is_refused_before_connecting():
    with pytest.raises(StoreError, match="the vector dimension must be positive, got 0"):
        WeaviateClipStore(WeaviateConfig(http_url="http://127.0.0.1:9", grpc_port=9), dim=0)


# -- connection ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_a_retriable_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as caught:
        WeaviateClipStore(WeaviateConfig(http_url=url, grpc_port=free_port()), dim=DIM)
    assert url in str(caught.value)
    assert caught.value.retriable is True


def test_an_unreachable_grpc_port_is_a_retriable_error(server):
    port = free_port()
    with pytest.raises(StoreError) as caught:
        WeaviateClipStore(WeaviateConfig(http_url=server.http_url, grpc_port=port), dim=DIM)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.retriable is True


def test_the_api_key_is_sent_over_rest_and_grpc(monkeypatch):
    with WeaviateStandIn(api_key="s3cret") as standin:
        monkeypatch.setattr(weaviate.connect.v4, "PYPI_PACKAGE_URL", standin.pypi_url)
        config = WeaviateConfig(http_url=standin.http_url, grpc_port=standin.grpc_port, collection="Clips")
        with pytest.raises(StoreError, match="HTTP 401 \\(check store.weaviate.api_key\\)"):
            WeaviateClipStore(config, dim=DIM)
        with WeaviateClipStore(config.model_copy(update={"api_key": "s3cret"}), dim=DIM) as store:
            store.upsert([make_clip("cam1", 0)])
            assert store.count() == 1
        grpc_calls = [r for r in standin.requests if r.protocol == "grpc" and r.method != "Health/Check"]
        assert grpc_calls and all(r.headers["authorization"] == "Bearer s3cret" for r in grpc_calls)
