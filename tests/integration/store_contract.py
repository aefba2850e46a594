"""The contract every ClipStore backend passes: subclass ClipStoreContract and provide `store_factory`.

`store_factory()` must return a store on the same (initially empty) location each time it is called, so
reopening can be tested. Vectors are small (8-d) synthetic unit vectors with known angles, so expected
rankings and cosine scores are exact; BM25 expectations rely only on term frequency and document length.
"""

from __future__ import annotations

from dataclasses import replace

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from streammm.errors import StoreError
from streammm.records import VECTOR_NAMES, Clip, ClipFilter, OcrLine, ScoredClip, StreamInfo, Word
from streammm.store.base import ClipStore, clip_id

DIM = 8
PROFILE = "contract"


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def tilted(cosine: float, towards: int = 1) -> np.ndarray:
    """A unit vector whose cosine with axis(0) is `cosine`, rotated towards axis(`towards`)."""
    v = axis(0) * cosine + axis(towards) * math.sqrt(max(0.0, 1.0 - cosine * cosine))
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_clip(stream_id: str = "cam-1", start_s: float = 0.0, end_s: float | None = None, **fields) -> Clip:
    return Clip(
        clip_id=clip_id(stream_id, start_s, PROFILE),
        stream_id=stream_id,
        start_s=start_s,
        end_s=start_s + 4.0 if end_s is None else end_s,
        profile=PROFILE,
        **fields,
    )


def ids(hits: list[ScoredClip] | list[Clip]) -> list[str]:
    return [h.clip.clip_id if isinstance(h, ScoredClip) else h.clip_id for h in hits]


class ClipStoreContract:
    """Backend-independent behaviour of a ClipStore. Subclasses define the `store_factory` fixture."""

    @pytest.fixture
    def store(self, store_factory: Callable[[], ClipStore]) -> Iterator[ClipStore]:
        store = store_factory()
        yield store
        store.close()

    # --- upsert -----------------------------------------------------------------------------------

    def test_upsert_is_idempotent_and_replaces_content(self, store: ClipStore) -> None:
        first = [
            make_clip(start_s=4.0 * i, transcript=f"original text {i}", vectors={"joint": axis(i)}) for i in range(3)
        ]
        store.upsert(first)
        store.upsert(first)
        assert store.count() == 3
        replaced = make_clip(start_s=4.0, transcript="rewritten narration", vectors={"joint": axis(5)})
        store.upsert([replaced])
        assert store.count() == 3
        [got] = store.get([replaced.clip_id])
        assert got.transcript == "rewritten narration"
        assert ids(store.search_text("rewritten", k=5)) == [replaced.clip_id]
        assert replaced.clip_id not in ids(store.search_text("original", k=5))
        assert ids(store.search_vector(axis(5), target="joint", k=1)) == [replaced.clip_id]
        store.upsert([])
        assert store.count() == 3

    def test_duplicate_ids_in_one_batch_keep_the_last(self, store: ClipStore) -> None:
        older = make_clip(transcript="older words")
        newer = make_clip(transcript="newer words")
        store.upsert([older, newer])
        assert store.count() == 1
        assert store.get([newer.clip_id])[0].transcript == "newer words"

    # --- vectors ----------------------------------------------------------------------------------

    def test_each_named_vector_is_searched_on_its_own(self, store: ClipStore) -> None:
        # Clip i's vector `target j` makes the angle 0.3 * ((i - j) mod 4) with axis(0): for target j,
        # clip j is first (cosine 1), then j+1, j+2, j+3 in that order.
        clips = [
            make_clip(
                start_s=4.0 * i,
                vectors={
                    name: tilted(math.cos(0.3 * ((i - j) % 4)), towards=1 + j) for j, name in enumerate(VECTOR_NAMES)
                },
            )
            for i in range(4)
        ]
        only_visual = make_clip(start_s=100.0, vectors={"visual": tilted(0.5)})
        no_vectors = make_clip(start_s=104.0, transcript="silence")
        store.upsert([*clips, only_visual, no_vectors])
        for j, name in enumerate(VECTOR_NAMES):
            hits = store.search_vector(axis(0), target=name, k=10)
            expected = [clips[(j + m) % 4].clip_id for m in range(4)]
            if name == "visual":
                expected.append(only_visual.clip_id)  # cos 0.5 < cos 0.9, the farthest of the four
            assert ids(hits) == expected, name
            cosines = sorted([math.cos(0.3 * m) for m in range(4)] + ([0.5] if name == "visual" else []), reverse=True)
            assert [h.score for h in hits] == pytest.approx(cosines, abs=1e-4), name
        assert ids(store.search_vector(axis(0), target="speech", k=2)) == [clips[1].clip_id, clips[2].clip_id]

    def test_a_clip_lacking_a_vector_never_matches_that_target(self, store: ClipStore) -> None:
        # The speech-less clip's (absent) speech vector would be the best match if it were stored as anything.
        silent = make_clip(start_s=0.0, vectors={"visual": axis(2), "joint": axis(2)})
        talking = make_clip(start_s=4.0, vectors={"visual": axis(3), "speech": tilted(-0.9), "joint": axis(3)})
        store.upsert([silent, talking])
        assert ids(store.search_vector(axis(0), target="speech", k=5)) == [talking.clip_id]
        assert ids(store.search_vector(axis(2), target="speech", k=5)) == [talking.clip_id]
        assert store.search_vector(axis(0), target="ocr", k=5) == []
        assert ids(store.search_vector(axis(2), target="visual", k=5)) == [silent.clip_id, talking.clip_id]

    # --- BM25 -------------------------------------------------------------------------------------

    def test_bm25_finds_rare_words_in_transcript_and_screen_text(self, store: ClipStore) -> None:
        dense = make_clip(start_s=0.0, transcript="xylophone xylophone xylophone")
        sparse = make_clip(start_s=4.0, transcript="someone in the back played a xylophone during the long parade")
        screen = make_clip(start_s=8.0, transcript="a quiet kitchen", ocr_text="MARMALADE recipe")
        other = make_clip(start_s=12.0, transcript="trains arrive at the station")
        store.upsert([dense, sparse, screen, other])
        assert ids(store.search_text("xylophone", k=10)) == [dense.clip_id, sparse.clip_id]
        assert ids(store.search_text("marmalade", k=10)) == [screen.clip_id]
        assert set(ids(store.search_text("marmalade trains", k=10))) == {screen.clip_id, other.clip_id}
        assert ids(store.search_text("xylophone", k=1)) == [dense.clip_id]
        assert store.search_text("zanzibar", k=10) == []
        assert store.search_text("", k=10) == []
        assert store.search_text("   ", k=10) == []
        hits = store.search_text("xylophone", k=10)
        assert hits[0].score > hits[1].score > 0
        assert hits[0].clip.transcript == dense.transcript

    def test_bm25_finds_clips_upserted_after_earlier_searches(self, store: ClipStore) -> None:
        store.upsert([make_clip(start_s=0.0, transcript="first batch only")])
        assert len(store.search_text("first", k=5)) == 1
        later = [make_clip(start_s=4.0 * i, transcript=f"gondola number{i}") for i in range(1, 6)]
        for clip in later:
            store.upsert([clip])
            assert ids(store.search_text(f"number{later.index(clip) + 1}", k=5)) == [clip.clip_id]
        assert set(ids(store.search_text("gondola", k=10))) == {c.clip_id for c in later}

    # --- rank fusion (the late and hybrid retrieval strategies) -----------------------------------

    def _fusion_clips(self, store: ClipStore) -> dict[str, Clip]:
        clips = {
            "top_both": make_clip(start_s=0.0, transcript="a kestrel hovers", vectors={"visual": axis(0), "speech": tilted(0.95)}),
            "visual_second": make_clip(start_s=4.0, transcript="empty field", vectors={"visual": tilted(0.9), "speech": tilted(0.1)}),
            "speech_only": make_clip(start_s=8.0, transcript="kestrel kestrel kestrel", vectors={"speech": axis(0)}),
            "tie_later": make_clip("cam-2", start_s=0.0, transcript="wind", vectors={"visual": tilted(0.5), "speech": tilted(0.5, 2)}),
            "other": make_clip(start_s=12.0, transcript="rain on the lens", vectors={"visual": tilted(0.3), "speech": tilted(0.3)}),
        }
        store.upsert(list(clips.values()))
        return clips

    def test_rank_fusion_search_is_reciprocal_rank_fusion_of_each_ranking(self, store: ClipStore) -> None:
        from streammm.store.fusion import fuse_clips

        c = self._fusion_clips(store)
        targets = ("visual", "speech")
        for query in (None, "kestrel"):
            rankings = [store.search_vector(axis(0), target=t, k=4) for t in targets]
            if query is not None:
                rankings.append(store.search_text(query, k=4))
            expected = fuse_clips(rankings)[:3]
            got = store.search_rank_fusion(query, axis(0), targets=targets, k=3, depth=4)
            assert [(h.clip.clip_id, h.score) for h in got] == [(h.clip.clip_id, h.score) for h in expected]
            top = got[0].clip  # whole clips come back, not just ids
            assert (top.clip_id, top.transcript, sorted(top.vectors)) == (c["top_both"].clip_id, "a kestrel hovers", ["speech", "visual"])
        late = store.search_rank_fusion(None, axis(0), targets=targets, k=10, depth=4)
        assert late[0].score == round(1 / 61 + 1 / 62, 6)  # first by visual, second by speech
        assert c["speech_only"].clip_id in ids(late)  # one ranking is enough to be found
        assert len(ids(late)) == len(set(ids(late)))

    def test_rank_fusion_search_filters_and_limits(self, store: ClipStore) -> None:
        c = self._fusion_clips(store)
        only_cam2 = store.search_rank_fusion("kestrel", axis(0), targets=("visual", "speech"), k=5, depth=5, where=ClipFilter(stream_ids=("cam-2",)))
        assert ids(only_cam2) == [c["tie_later"].clip_id]
        later = store.search_rank_fusion("kestrel", axis(0), targets=("visual", "speech"), k=5, depth=5, where=ClipFilter(start_s=4.0))
        assert c["top_both"].clip_id not in ids(later) and c["speech_only"].clip_id in ids(later)
        assert store.search_rank_fusion("kestrel", axis(0), targets=("visual",), k=0, depth=5) == []
        with pytest.raises(StoreError, match="unknown vector target 'smell'"):
            store.search_rank_fusion(None, axis(0), targets=("smell",), k=5, depth=5)

    def test_rank_fusion_of_many_searches_answers_each_as_alone(self, store: ClipStore) -> None:
        """Searches run together (differing in words, vector and filter, some sharing a filter) get what
        each gets alone, in order; the misuse of one fails the call."""
        from streammm.store.fusion import FusionSearch

        self._fusion_clips(store)
        searches = [
            FusionSearch("kestrel", axis(0)),
            FusionSearch(None, tilted(0.5, 2)),
            FusionSearch("rain lens", tilted(0.3)),
            FusionSearch("kestrel", axis(0), ClipFilter(stream_ids=("cam-2",))),
            FusionSearch("wind", tilted(0.9), ClipFilter(start_s=4.0)),
            FusionSearch("gondola", axis(1), ClipFilter(start_s=4.0)),
        ]
        for targets in (("visual", "speech"), ("joint",), ("speech",)):
            together = store.search_rank_fusion_many(searches, targets=targets, k=3, depth=4)
            alone = [store.search_rank_fusion(s.query, s.vector, targets=targets, k=3, depth=4, where=s.where) for s in searches]
            assert [[(h.clip.clip_id, h.score) for h in found] for found in together] == [[(h.clip.clip_id, h.score) for h in found] for found in alone]
            whole = lambda found: [(h.clip.transcript, sorted(h.clip.vectors)) for h in found]  # noqa: E731 (whole clips come back)
            assert [whole(found) for found in together] == [whole(found) for found in alone]
        assert any(together) and store.search_rank_fusion_many([], targets=("joint",), k=3, depth=4) == []
        with pytest.raises(StoreError, match=f"query vector must be a finite, non-zero {DIM}-d vector"):
            store.search_rank_fusion_many([searches[0], FusionSearch("x", np.zeros(DIM))], targets=("visual",), k=3, depth=4)

    # --- misuse -----------------------------------------------------------------------------------

    def test_misuse_is_the_same_non_retriable_store_error_in_every_backend(self, store: ClipStore) -> None:
        store.upsert([make_clip(vectors={"joint": axis(0)})])
        for search in (
            lambda: store.search_vector(axis(0), target="audio", k=1),
            lambda: store.search_rank_fusion("x", axis(0), targets=("joint", "audio"), k=1, depth=1),
        ):
            with pytest.raises(StoreError, match="unknown vector target 'audio'; expected one of visual, ") as caught:
                search()
            assert caught.value.retriable is False
        for vector in (np.ones(3), np.zeros(DIM), np.full(DIM, np.nan)):
            with pytest.raises(StoreError, match=f"query vector for 'joint' must be a finite, non-zero {DIM}-d vector"):
                store.search_vector(vector, target="joint", k=1)
            with pytest.raises(StoreError, match=f"query vector must be a finite, non-zero {DIM}-d vector"):
                store.search_rank_fusion(None, vector, targets=("joint",), k=1, depth=1)
        with pytest.raises(StoreError, match=f"vector 'visual' must be a finite, non-zero {DIM}-d vector"):
            store.upsert([make_clip(start_s=4.0), make_clip(start_s=8.0, vectors={"visual": np.ones(DIM + 1)})])
        with pytest.raises(StoreError, match=r"unknown vector names \['smell'\]"):
            store.upsert([make_clip(start_s=12.0, vectors={"smell": axis(0)})])
        with pytest.raises(StoreError, match=r"frame vectors must be 2 finite \d+-d rows \(one per frame time\), got shape \(1, "):
            store.upsert([make_clip(start_s=16.0), make_clip(start_s=20.0, frame_times=(20.0, 21.0), frame_vectors=np.ones((1, DIM)))])
        with pytest.raises(StoreError, match="frame vectors must be 1 finite"):
            store.upsert([make_clip(start_s=24.0, frame_times=(24.0,), frame_vectors=np.full((1, DIM), np.nan))])
        assert store.count() == 1  # a refused batch writes nothing

    # --- filters ----------------------------------------------------------------------------------

    def _filter_clips(self, store: ClipStore) -> dict[tuple[str, float], Clip]:
        clips = {
            (stream, start): make_clip(
                stream_id=stream,
                start_s=start,
                transcript=f"lighthouse keeper on {stream}",
                vectors={"joint": tilted(0.9 - start / 100.0)},
            )
            for stream in ("cam-1", "o'brien", "cam-2")
            for start in (0.0, 4.0, 8.0)
        }
        store.upsert(list(clips.values()))
        return clips

    def test_filter_by_stream(self, store: ClipStore) -> None:
        clips = self._filter_clips(store)
        quoted = {c.clip_id for (s, _), c in clips.items() if s == "o'brien"}
        where = ClipFilter(stream_ids=("o'brien",))
        assert store.count(where) == 3
        assert set(ids(store.search_vector(axis(0), target="joint", k=10, where=where))) == quoted
        assert set(ids(store.search_text("lighthouse", k=10, where=where))) == quoted
        assert set(ids(store.search_rank_fusion("lighthouse", axis(0), targets=("joint",), k=10, depth=10, where=where))) == quoted
        assert store.count(ClipFilter(stream_ids=("cam-1", "cam-2"))) == 6
        assert store.count(ClipFilter(stream_ids=("x' OR '1'='1",))) == 0
        assert store.count(ClipFilter(stream_ids=("cam-9",))) == 0
        assert store.search_vector(axis(0), target="joint", k=10, where=ClipFilter(stream_ids=("cam-9",))) == []

    def test_filter_by_time_uses_overlap_with_open_boundaries(self, store: ClipStore) -> None:
        clips = self._filter_clips(store)  # per stream: [0, 4], [4, 8], [8, 12]

        def starts(where: ClipFilter) -> set[float]:
            found = ids(store.search_vector(axis(0), target="joint", k=20, where=where))
            assert set(ids(store.search_text("lighthouse", k=20, where=where))) == set(found)
            assert store.count(where) == len(found)
            return {c.start_s for c in store.get(found) if c.stream_id == "cam-1"}

        assert starts(ClipFilter(start_s=4.0, end_s=8.0)) == {4.0}  # touching ends do not overlap
        assert starts(ClipFilter(start_s=3.9, end_s=4.1)) == {0.0, 4.0}
        assert starts(ClipFilter(start_s=5.0, end_s=6.0)) == {4.0}  # inside one clip
        assert starts(ClipFilter(start_s=8.0)) == {8.0}
        assert starts(ClipFilter(end_s=4.0)) == {0.0}
        assert starts(ClipFilter(start_s=12.0)) == set()
        assert starts(ClipFilter(start_s=-100.0, end_s=100.0)) == {0.0, 4.0, 8.0}
        both = ClipFilter(stream_ids=("cam-2",), start_s=3.0, end_s=5.0)
        found = store.get(ids(store.search_text("lighthouse", k=20, where=both)))
        assert {(c.stream_id, c.start_s) for c in found} == {("cam-2", 0.0), ("cam-2", 4.0)}
        assert store.count(both) == 2 and len(clips) == 9

    # --- reads ------------------------------------------------------------------------------------

    def test_get_keeps_the_order_asked_and_skips_unknown_ids(self, store: ClipStore) -> None:
        a, b, c = (make_clip(start_s=4.0 * i) for i in range(3))
        store.upsert([a, b, c])
        unknown = clip_id("nowhere", 0.0, PROFILE)
        assert ids(store.get([c.clip_id, unknown, a.clip_id])) == [c.clip_id, a.clip_id]
        assert ids(store.get([b.clip_id])) == [b.clip_id]
        assert store.get([]) == []
        assert store.get([unknown]) == []

    def test_count_and_streams(self, store: ClipStore) -> None:
        assert store.count() == 0 and store.streams() == []
        store.upsert(
            [make_clip("b-stream", 10.0, 14.0), make_clip("b-stream", 2.0, 6.5), make_clip("a-stream", 1.0, 3.0)]
        )
        assert store.count() == 3
        assert store.count(ClipFilter(stream_ids=("b-stream",))) == 2
        assert store.count(ClipFilter(start_s=6.0)) == 2
        assert store.streams() == [StreamInfo("a-stream", 1, 1.0, 3.0), StreamInfo("b-stream", 2, 2.0, 14.0)]

    def test_delete_stream(self, store: ClipStore) -> None:
        keep = make_clip("keep", 0.0, transcript="walrus", vectors={"joint": axis(1)})
        gone = [make_clip("gone", 4.0 * i, transcript="walrus", vectors={"joint": axis(1)}) for i in range(3)]
        store.upsert([keep, *gone])
        assert store.delete_stream("gone") == 3
        assert store.delete_stream("gone") == 0
        assert store.delete_stream("never-seen") == 0
        assert store.count() == 1
        assert [s.stream_id for s in store.streams()] == ["keep"]
        assert ids(store.search_text("walrus", k=10)) == [keep.clip_id]
        assert ids(store.search_vector(axis(1), target="joint", k=10)) == [keep.clip_id]
        assert store.get([c.clip_id for c in gone]) == []

    def test_delete_stream_from_a_time_keeps_the_earlier_clips(self, store: ClipStore) -> None:
        clips = [make_clip("cut", 2.0 * i) for i in range(6)]
        store.upsert([*clips, make_clip("other", 8.0)])
        assert store.delete_stream("cut", from_s=6.0) == 3
        assert sorted(c.start_s for c in store.get([c.clip_id for c in clips])) == [0.0, 2.0, 4.0]
        assert store.count(ClipFilter(stream_ids=("other",))) == 1

    def test_incomplete_clips_are_counted_and_filtered(self, store: ClipStore) -> None:
        whole = make_clip("s", 0.0, expected=("visual", "ocr"), vectors={"joint": axis(1)})
        waiting = make_clip("s", 2.0, expected=("visual", "ocr"), pending=("ocr",), vectors={"joint": axis(1)})
        older = make_clip("s", 4.0, vectors={"joint": axis(1)})  # written before completeness was recorded
        store.upsert([whole, waiting, older])
        assert store.count(ClipFilter(incomplete=True)) == 1
        assert store.count(ClipFilter(stream_ids=("s",), incomplete=True)) == 1
        [got] = store.get([waiting.clip_id])
        assert got.pending == ("ocr",) and not got.complete
        store.upsert([replace(waiting, pending=())])
        assert store.count(ClipFilter(incomplete=True)) == 0

    def test_everything_survives_close_and_reopen(self, store_factory: Callable[[], ClipStore]) -> None:
        store = store_factory()
        clips = [
            make_clip(start_s=4.0 * i, transcript=f"albatross {'nest ' * i}", vectors={"joint": tilted(0.9 - 0.1 * i)})
            for i in range(5)
        ]
        store.upsert(clips)

        def snapshot(s: ClipStore) -> tuple:
            return (
                s.count(),
                s.streams(),
                [(h.clip.clip_id, round(h.score, 5)) for h in s.search_vector(axis(0), target="joint", k=10)],
                [(h.clip.clip_id, round(h.score, 5)) for h in s.search_text("albatross nest", k=10)],
                ids(s.search_rank_fusion("nest", axis(0), targets=("joint",), k=10, depth=10)),
            )

        before = snapshot(store)
        assert before[0] == 5 and len(before[2]) == 5 and len(before[3]) == 5
        store.close()
        reopened = store_factory()
        try:
            assert snapshot(reopened) == before
            assert ids(reopened.get([c.clip_id for c in clips])) == [c.clip_id for c in clips]
        finally:
            reopened.close()

    def test_records_round_trip(self, store: ClipStore) -> None:
        rng = np.random.default_rng(7)
        raw = {name: rng.standard_normal(DIM) for name in ("visual", "ocr", "joint")}
        vectors = {name: (v / np.linalg.norm(v)).astype(np.float32) for name, v in raw.items()}
        frames = rng.standard_normal((4, DIM)).astype(np.float32)
        frames /= np.linalg.norm(frames, axis=1, keepdims=True)
        clip = make_clip(
            stream_id="round-trip",
            start_s=12.25,
            end_s=16.25,
            transcript="hello there",
            ocr_text="EXIT 12",
            tags=("person", "bicycle", "traffic light"),
            words=(Word(12.3, 12.71, "hello", 0.93), Word(12.8, 13.1, "there", 0.4999)),
            ocr_lines=(OcrLine(12.25, 14.0, "EXIT 12", 0.875), OcrLine(13.0, 16.25, "ÉCHAP ✓", 1.0)),
            frame_times=(12.25, 13.25, 14.1, 15.999),
            frame_vectors=frames,
            shot_times=(14.1,),
            vectors=vectors,
            thumbnail="abc123.jpg",
            expected=("visual", "speech", "ocr"),
            pending=("speech",),
            run_started_at=1764600000.125,
            sample_fps=0.5,
        )
        store.upsert([clip])
        [got] = store.get([clip.clip_id])
        for name in ("clip_id", "stream_id", "start_s", "end_s", "profile", "transcript", "ocr_text", "tags",
                     "words", "ocr_lines", "frame_times", "thumbnail", "expected", "pending",
                     "run_started_at", "sample_fps", "shot_times"):  # fmt: skip
            assert getattr(got, name) == getattr(clip, name), name
        np.testing.assert_allclose(got.frame_vectors, frames, atol=0.5 / 127 + 1e-6)  # kept as int8
        assert set(got.vectors) == {"visual", "ocr", "joint"}
        assert got.modalities == ("visual", "ocr")
        for name, vector in vectors.items():
            np.testing.assert_allclose(got.vectors[name], vector, atol=1e-6)
        [hit] = store.search_vector(vectors["ocr"], target="ocr", k=1)
        assert hit.clip.words == clip.words and hit.clip.tags == clip.tags
        assert hit.score == pytest.approx(1.0, abs=1e-5)
