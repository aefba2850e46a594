"""The retrieval metrics on hand-made cases, and the query-file loader's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streammm.errors import ConfigError
from streammm.eval.metrics import ROW_KEYS, average_precision, iou, make_row, overlap, score_moments, summarize, summarize_by_modality
from streammm.eval.queries import load_queries


def test_overlap_and_iou_of_spans():
    assert overlap(10, 14, 12, 18) == 2.0
    assert overlap(0, 4, 4, 8) == 0.0  # touching is not overlapping
    assert overlap(0, 4, 6, 8) == 0.0
    assert iou(10, 14, 12, 18) == pytest.approx(0.25)
    assert iou(0, 10, 2, 4) == pytest.approx(0.2)
    assert iou(3, 3, 3, 3) == 0.0


def test_exact_hit():
    scored = score_moments((10.0, 14.0), [(10.0, 14.0), (20.0, 24.0)])
    assert scored["hit@1"] == 1
    assert scored["rank"] == 1
    assert scored["r@5"] == 1
    assert scored["iou"] == 1.0
    assert scored["start_error_s"] == 0.0


def test_partial_overlap_at_the_top():
    scored = score_moments((10.0, 14.0), [(12.0, 18.0)])
    assert scored["hit@1"] == 1
    assert scored["iou"] == pytest.approx(2 / 8)
    assert scored["start_error_s"] == pytest.approx(2.0)
    assert (scored["top_start_s"], scored["top_end_s"]) == (12.0, 18.0)


def test_miss_at_rank_one_hit_at_rank_three():
    scored = score_moments((10.0, 14.0), [(0.0, 4.0), (20.0, 24.0), (13.0, 17.0), (11.0, 12.0)])
    assert scored["hit@1"] == 0
    assert scored["rank"] == 3
    assert scored["r@5"] == 1
    assert scored["iou"] == 0.0
    assert scored["start_error_s"] == pytest.approx(10.0)


def test_hit_only_at_rank_six_is_not_recalled_at_five():
    moments = [(float(s), float(s) + 2) for s in (30, 32, 34, 36, 38)] + [(9.0, 11.0)]
    scored = score_moments((10.0, 14.0), moments)
    assert scored["rank"] == 6
    assert scored["r@5"] == 0


def test_complete_miss():
    scored = score_moments((10.0, 14.0), [(0.0, 4.0), (20.0, 24.0)])
    assert scored["hit@1"] == 0
    assert scored["rank"] is None
    assert scored["r@5"] == 0
    assert scored["iou"] == 0.0
    assert scored["start_error_s"] == pytest.approx(10.0)


def test_empty_result():
    scored = score_moments((10.0, 14.0), [])
    assert scored["hit@1"] == 0
    assert scored["rank"] is None
    assert scored["r@5"] == 0
    assert scored["iou"] == 0.0
    assert scored["start_error_s"] is None
    assert scored["top_start_s"] is None


def test_the_right_times_in_another_video_are_a_miss():
    # Asked of every stream: the top moment has the right seconds but belongs to another video.
    moments = [(10.0, 14.0), (30.0, 34.0), (12.0, 16.0)]
    scored = score_moments((10.0, 14.0), moments, elsewhere=[True, False, False])
    assert scored["hit@1"] == 0
    assert scored["rank"] == 3
    assert scored["r@5"] == 1
    assert scored["iou"] == 0.0
    assert scored["start_error_s"] is None
    assert (scored["top_start_s"], scored["top_end_s"]) == (10.0, 14.0)
    same = score_moments((10.0, 14.0), moments, elsewhere=[False, False, False])
    assert (same["hit@1"], same["iou"], same["start_error_s"]) == (1, 1.0, 0.0)


def test_rows_are_plain_dicts_with_the_documented_keys():
    row = make_row(query_id="q1", media="v.mp4", modality="speech", strategy="hybrid", expected=(1.0, 2.0), moments=[(0.0, 4.0)])
    assert tuple(row) == ROW_KEYS
    assert {"query_id", "media", "modality", "strategy", "hit@1", "rank", "iou", "start_error_s"} <= set(row)
    assert json.loads(json.dumps(row)) == row


def _rows():
    window = (10.0, 14.0)
    cases = [
        ("a", "speech", "hybrid", [(10.0, 14.0)]),  # hit, iou 1, error 0
        ("b", "speech", "hybrid", [(12.0, 18.0)]),  # hit, iou 0.25, error 2
        ("c", "visual", "hybrid", [(0.0, 4.0), (20.0, 24.0), (13.0, 17.0)]),  # rank 3, iou 0, error 10
        ("d", "visual", "hybrid", []),  # nothing: miss, iou 0, no error
        ("a", "speech", "visual", [(0.0, 4.0)]),  # miss, error 10
        ("c", "visual", "visual", [(11.0, 13.0)]),  # hit, iou 0.5, error 1
    ]
    return [make_row(query_id=q, media="v.mp4", modality=m, strategy=s, expected=window, moments=found) for q, m, s, found in cases]


def test_summarize_per_strategy():
    summary = summarize(_rows())
    assert list(summary) == ["hybrid", "visual"]
    hybrid = summary["hybrid"]
    assert hybrid["n"] == 4
    assert hybrid["hit@1"] == pytest.approx(2 / 4)
    assert hybrid["r@5"] == pytest.approx(3 / 4)
    assert hybrid["iou"] == pytest.approx((1.0 + 0.25 + 0.0 + 0.0) / 4)
    assert hybrid["median_start_error_s"] == pytest.approx(2.0)  # median of 0, 2, 10; the empty result is left out
    visual = summary["visual"]
    assert visual["n"] == 2
    assert visual["hit@1"] == pytest.approx(0.5)
    assert visual["iou"] == pytest.approx(0.25)
    assert visual["median_start_error_s"] == pytest.approx(5.5)  # median of 10 and 1


def test_summarize_per_strategy_and_modality():
    by_modality = summarize_by_modality(_rows())
    assert by_modality["hybrid"]["speech"]["hit@1"] == 1.0
    assert by_modality["hybrid"]["speech"]["iou"] == pytest.approx(0.625)
    assert by_modality["hybrid"]["speech"]["median_start_error_s"] == pytest.approx(1.0)
    assert by_modality["hybrid"]["visual"] == {
        "hit@1": 0.0, "r@5": 0.5, "iou": 0.0, "r1@0.3": 0.0, "r1@0.5": 0.0, "r1@0.7": 0.0, "map": 0.0,
        "median_start_error_s": 10.0, "median_width_ratio": 1.0, "n": 2,
    }
    assert by_modality["visual"]["speech"]["n"] == 1


def test_summarize_when_nothing_was_returned():
    rows = [make_row(query_id="q", media="v", modality="ocr", strategy="ocr", expected=(1.0, 2.0), moments=[])]
    assert summarize(rows)["ocr"] == {
        "hit@1": 0.0, "r@5": 0.0, "iou": 0.0, "r1@0.3": 0.0, "r1@0.5": 0.0, "r1@0.7": 0.0, "map": 0.0,
        "median_start_error_s": None, "median_width_ratio": None, "n": 1,
    }


# --- the field's metrics: R1@t, mIoU, mAP@[0.5:0.95], widths ----------------------------------------------


def test_r1_at_thresholds_follow_the_top_moments_iou():
    # label 10-14; top 11-15: IoU 3/5 = 0.6 -> R1@0.3 and R1@0.5, not R1@0.7
    scored = score_moments((10.0, 14.0), [(11.0, 15.0)])
    assert scored["iou"] == pytest.approx(0.6)
    assert (scored["r1@0.3"], scored["r1@0.5"], scored["r1@0.7"]) == (1, 1, 0)
    # 10-14 vs 10-15 is IoU 0.8; a threshold reached exactly counts
    assert score_moments((10.0, 14.0), [(10.0, 15.0)])["r1@0.7"] == 1
    assert score_moments((0.0, 3.0), [(0.0, 10.0)])["r1@0.3"] == 1  # IoU 0.3 exactly
    # only the top moment counts for R1, even when a later one fits perfectly
    later = score_moments((10.0, 14.0), [(20.0, 24.0), (10.0, 14.0)])
    assert (later["r1@0.3"], later["r1@0.5"], later["r1@0.7"]) == (0, 0, 0)


def test_average_precision_is_one_over_the_rank_of_the_first_good_enough_moment_per_threshold():
    assert average_precision((10.0, 14.0), [(10.0, 14.0)]) == pytest.approx(1.0)
    # a perfect moment at rank 2: 1/2 at every threshold
    assert average_precision((10.0, 14.0), [(0.0, 4.0), (10.0, 14.0)]) == pytest.approx(0.5)
    # IoU 0.6 at rank 1: counts for thresholds 0.5, 0.55 and 0.6 (3 of 10)
    assert average_precision((10.0, 14.0), [(11.0, 15.0)]) == pytest.approx(0.3)
    # IoU 0.6 at rank 1 and a perfect one at rank 3: 1 for 0.5-0.6, 1/3 for the other 7
    assert average_precision((10.0, 14.0), [(11.0, 15.0), (30.0, 31.0), (10.0, 14.0)]) == pytest.approx((3 + 7 / 3) / 10)
    # the window is matched once: a second perfect moment adds nothing
    assert average_precision((10.0, 14.0), [(10.0, 14.0), (10.0, 14.0)]) == pytest.approx(1.0)
    assert average_precision((10.0, 14.0), []) == 0.0


def test_average_precision_counts_a_moment_of_another_video_as_a_miss():
    assert average_precision((10.0, 14.0), [(10.0, 14.0), (10.0, 14.0)], elsewhere=[True, False]) == pytest.approx(0.5)


def test_rows_carry_ap_over_the_top_5_only_and_the_widths():
    moments = [(0.0, 1.0)] * 5 + [(10.0, 14.0)]
    scored = score_moments((10.0, 14.0), moments)
    assert scored["ap"] == 0.0
    assert scored["top_width_s"] == 1.0
    assert scored["label_width_s"] == 4.0
    nothing = score_moments((10.0, 14.0), [])
    assert nothing["top_width_s"] is None and nothing["label_width_s"] == 4.0


def test_summary_has_r1_map_and_the_median_width_ratio():
    rows = [
        make_row(query_id="a", media="v", modality="speech", strategy="hybrid", expected=(10.0, 14.0), moments=[(10.0, 14.0)]),
        make_row(query_id="b", media="v", modality="speech", strategy="hybrid", expected=(10.0, 14.0), moments=[(11.0, 15.0)]),
        make_row(query_id="c", media="v", modality="speech", strategy="hybrid", expected=(10.0, 12.0), moments=[(0.0, 12.0)]),
    ]
    summary = summarize(rows)["hybrid"]
    assert summary["r1@0.3"] == pytest.approx(2 / 3)  # IoUs 1, 0.6 and 1/6
    assert summary["r1@0.5"] == pytest.approx(2 / 3)
    assert summary["r1@0.7"] == pytest.approx(1 / 3)
    assert summary["iou"] == pytest.approx((1.0 + 0.6 + 2 / 12) / 3)
    assert summary["map"] == pytest.approx((1.0 + 0.3 + 0.0) / 3)
    assert summary["median_width_ratio"] == pytest.approx(1.0)  # ratios 1, 1, 6


def test_old_rows_without_r1_keys_are_scored_from_their_iou():
    row = {"strategy": "s", "hit@1": 1, "rank": 1, "iou": 0.55, "start_error_s": 0.0}
    summary = summarize([row])["s"]
    assert (summary["r1@0.3"], summary["r1@0.5"], summary["r1@0.7"], summary["map"]) == (1.0, 1.0, 0.0, 0.0)


# --- the query file -------------------------------------------------------------------------------


def _query(**changes):
    query = {"id": "q1", "media": "clip.mp4", "query": "a cat", "start": 1.0, "end": 3.0, "modality": "visual"}
    query.update(changes)
    return {key: value for key, value in query.items() if value is not None}


def _write(folder: Path, queries, *, media=("clip.mp4",)) -> Path:
    for name in media:
        (folder / name).write_bytes(b"not really a video")
    path = folder / "queries.json"
    path.write_text(json.dumps({"queries": queries}), encoding="utf-8")
    return path


def test_loads_queries_with_media_relative_to_the_file(tmp_path):
    path = _write(tmp_path, [_query(), _query(id="q2", modality="Visual+OCR", start=0)])
    queries = load_queries(path)
    assert [q.id for q in queries] == ["q1", "q2"]
    assert queries[0].path == (tmp_path / "clip.mp4").resolve()
    assert (queries[0].text, queries[0].start, queries[0].end, queries[0].media) == ("a cat", 1.0, 3.0, "clip.mp4")
    assert queries[1].modality == "visual+ocr"


def test_media_root_overrides_the_files_folder(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"x")
    path = tmp_path / "queries.json"
    path.write_text(json.dumps({"queries": [_query()]}), encoding="utf-8")
    assert load_queries(path, media_root=root)[0].path == (root / "clip.mp4").resolve()


def test_missing_query_file(tmp_path):
    with pytest.raises(ConfigError, match="query file not found"):
        load_queries(tmp_path / "nope.json")


def test_bad_json(tmp_path):
    path = tmp_path / "queries.json"
    path.write_text('{"queries": [', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_queries(path)


def test_not_a_query_list(tmp_path):
    path = tmp_path / "queries.json"
    path.write_text('[{"id": "q1"}]', encoding="utf-8")
    with pytest.raises(ConfigError, match='"queries" list'):
        load_queries(path)


def test_missing_field_names_the_query(tmp_path):
    path = _write(tmp_path, [_query(), _query(id="q7", end=None)])
    with pytest.raises(ConfigError, match=r"query 'q7': missing field end"):
        load_queries(path)


def test_start_not_before_end(tmp_path):
    path = _write(tmp_path, [_query(id="q3", start=5.0, end=5.0)])
    with pytest.raises(ConfigError, match=r"query 'q3': start \(5.0\) must be before end \(5.0\)"):
        load_queries(path)


def test_times_must_be_numbers(tmp_path):
    path = _write(tmp_path, [_query(id="q4", start="0:01")])
    with pytest.raises(ConfigError, match=r"query 'q4': 'start' must be a number of seconds"):
        load_queries(path)


def test_unknown_media_names_the_query(tmp_path):
    path = _write(tmp_path, [_query(), _query(id="q9", media="video/missing.mp4")])
    with pytest.raises(ConfigError, match=r"query 'q9': media file not found: .*video/missing.mp4"):
        load_queries(path)


def test_unknown_modality(tmp_path):
    path = _write(tmp_path, [_query(id="q5", modality="audio")])
    with pytest.raises(ConfigError, match=r"query 'q5': modality 'audio'"):
        load_queries(path)


def test_duplicate_ids(tmp_path):
    path = _write(tmp_path, [_query(), _query()])
    with pytest.raises(ConfigError, match="'q1' is used twice"):
        load_queries(path)


def test_the_shared_query_file_loads(media):
    queries = load_queries(media / "queries.json")
    assert len(queries) >= 20
    assert {q.modality for q in queries} >= {"visual", "speech", "ocr"}


def test_eval_refuses_to_score_an_index_whose_clips_still_wait_for_a_modality(tmp_path: Path):
    """Scores on clips that lack a modality would be wrong without saying so: indexing stops with the streams."""
    import numpy as np

    from streammm.config import load_settings
    from streammm.errors import StreammmError
    from streammm.eval.harness import incomplete_clips, index_media
    from streammm.paths import shared_media
    from streammm.records import Clip, clip_id
    from streammm.store.embedded import LanceDbClipStore

    settings = load_settings(env={}, overrides={"store.data_dir": str(tmp_path)})
    store = LanceDbClipStore(tmp_path / "clips", 4)
    vector = np.array([1, 0, 0, 0], np.float32)
    store.upsert([
        Clip(clip_id("slides", 0.0, "p"), "slides", 0.0, 4.0, "p", vectors={"visual": vector}, expected=("visual", "ocr"), pending=("ocr",)),
        Clip(clip_id("other", 0.0, "p"), "other", 0.0, 4.0, "p", vectors={"visual": vector}, expected=("visual", "ocr")),
    ])
    store.close()
    assert incomplete_clips(settings, 4, ["slides", "other"]) == {"slides": 1}
    with pytest.raises(StreammmError, match=r"incomplete.*slides \(1 clips\)"):
        index_media(settings, {shared_media() / "derived" / "narrated_slideshow.mp4": "slides"}, 4)


# --- answers (streammm eval --answers) --------------------------------------------------------------------


def test_answer_citations_are_scored_against_the_window():
    from streammm.eval.answers import score_answer, summarize_answers

    good = score_answer((10.0, 14.0), [(11.0, 12.0), (20.0, 21.0), (13.5, 16.0)])
    assert (good["cited@1"], good["precision"], good["first_start_error_s"]) == (1, pytest.approx(2 / 3), 1.0)
    late = score_answer((10.0, 14.0), [(20.0, 21.0), (12.0, 13.0)])
    assert (late["cited@1"], late["precision"], late["first_start_error_s"]) == (0, 0.5, 10.0)
    elsewhere = score_answer((10.0, 14.0), [(11.0, 12.0)], elsewhere=[True])
    assert (elsewhere["cited@1"], elsewhere["precision"], elsewhere["first_start_error_s"]) == (0, 0.0, None)
    none = score_answer((10.0, 14.0), [])
    assert (none["cited@1"], none["precision"], none["first_start_error_s"]) == (0, 0.0, None)
    summary = summarize_answers([good, late, none])
    assert summary["cited@1"] == pytest.approx(1 / 3)
    assert summary["precision"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert summary["median_first_start_error_s"] == pytest.approx(5.5)
    assert summary["n"] == 3


# --- queries with no answer ("answerable": false) -------------------------------------------------------


def test_an_unanswerable_query_needs_no_window(tmp_path):
    nulls = {**_query(id="n2"), "start": None, "end": None, "answerable": False}
    path = _write(tmp_path, [_query(), _query(id="n1", start=None, end=None, answerable=False), nulls])
    queries = load_queries(path)
    assert [q.answerable for q in queries] == [True, False, False]
    assert (queries[1].start, queries[1].end) == (None, None)
    assert (queries[2].start, queries[2].end) == (None, None)  # null is the same as absent


def test_an_unanswerable_query_with_a_window_is_refused(tmp_path):
    path = _write(tmp_path, [_query(id="n3", answerable=False)])
    with pytest.raises(ConfigError, match=r"query 'n3': is marked \"answerable\": false, so it has no window; drop start and end"):
        load_queries(path)
    path = _write(tmp_path, [_query(id="n4", start=None, answerable=False)])
    with pytest.raises(ConfigError, match=r"query 'n4': .* drop end or set it to null"):
        load_queries(path)


def test_answerable_must_be_a_boolean(tmp_path):
    path = _write(tmp_path, [_query(id="n5", start=None, end=None, answerable="no")])
    with pytest.raises(ConfigError, match=r"query 'n5': 'answerable' must be true or false, got 'no'"):
        load_queries(path)


def test_an_answerable_query_still_needs_its_window(tmp_path):
    path = _write(tmp_path, [_query(id="n6", start=None, end=None, answerable=True)])
    with pytest.raises(ConfigError, match=r"query 'n6': missing fields start, end"):
        load_queries(path)


def test_no_answer_rows_count_moments_at_or_above_min_relevance():
    from streammm.eval.metrics import make_no_answer_row

    common = {"media": "m.mp4", "modality": "speech", "strategy": "s", "min_relevance": 0.04}
    refused = make_no_answer_row(query_id="n1", relevances=[0.039, 0.01], **common)
    assert (refused["no_answer"], refused["answered"], refused["top_relevance"], refused["answerable"]) == (1, 0, 0.039, False)
    answered = make_no_answer_row(query_id="n2", relevances=[0.5, 0.04, 0.03], **common)
    assert (answered["no_answer"], answered["answered"]) == (0, 2)
    empty = make_no_answer_row(query_id="n3", relevances=[], **common)
    assert (empty["no_answer"], empty["answered"], empty["top_relevance"]) == (1, 0, None)


def test_no_answer_accuracy_per_strategy_and_unanswerable_rows_stay_out_of_the_window_metrics():
    from streammm.eval.metrics import make_no_answer_row
    from streammm.eval.report import format_summary

    def no_answer(qid, strategy, relevances):
        return make_no_answer_row(
            query_id=qid, media="m.mp4", modality="visual", strategy=strategy, relevances=relevances, min_relevance=0.04
        )

    answerable = [
        make_row(query_id="a1", media="m.mp4", modality="visual", strategy="s", expected=(0.0, 4.0), moments=[(0.0, 4.0)]),
        make_row(query_id="a1", media="m.mp4", modality="visual", strategy="t", expected=(0.0, 4.0), moments=[(8.0, 9.0)]),
    ]
    unanswerable = [
        no_answer("n1", "s", [0.01]), no_answer("n2", "s", [0.2]), no_answer("n3", "s", []),  # 2 of 3 refused
        no_answer("n1", "t", [0.3]), no_answer("n2", "t", [0.2]), no_answer("n3", "t", [0.05]),  # none refused
    ]
    summary = summarize(answerable + unanswerable)
    assert summary["s"]["no_answer"] == pytest.approx(2 / 3)
    assert summary["t"]["no_answer"] == 0.0
    assert summary["s"]["n_unanswerable"] == summary["t"]["n_unanswerable"] == 3
    # the window metrics are those of the answerable row alone
    assert (summary["s"]["n"], summary["s"]["hit@1"], summary["s"]["iou"], summary["s"]["map"]) == (1, 1.0, 1.0, 1.0)
    assert (summary["t"]["n"], summary["t"]["hit@1"], summary["t"]["r1@0.5"]) == (1, 0.0, 0.0)
    by_modality = summarize_by_modality(answerable + unanswerable)
    assert by_modality["s"]["visual"]["n"] == 1
    assert "no-answer acc" in format_summary(summary)
    # without unanswerable queries nothing changes: no extra keys, no extra column
    plain = summarize(answerable)
    assert "no_answer" not in plain["s"] and "n_unanswerable" not in plain["s"]
    assert "no-answer" not in format_summary(plain)


def test_the_harness_scores_an_unanswerable_query_by_the_relevance_of_its_own_streams_moments(tmp_path):
    from types import SimpleNamespace

    from streammm.eval.harness import _ask

    path = _write(tmp_path, [_query(), _query(id="n1", start=None, end=None, answerable=False)])
    answerable, unanswerable = load_queries(path)

    class Service:
        def encode(self, text):
            return None

        def moments(self, request, vector):
            return [
                SimpleNamespace(start_s=1.0, end_s=3.0, stream_id="other", relevance=0.9),  # another video: not counted
                SimpleNamespace(start_s=1.0, end_s=3.0, stream_id="clip", relevance=0.03),
            ]

    streams = {answerable.path: "clip"}
    [row] = _ask(Service(), unanswerable, streams, ["hybrid"], True, 0.04)
    assert (row["answerable"], row["no_answer"], row["answered"], row["top_relevance"]) == (False, 1, 0, 0.03)
    [row] = _ask(Service(), unanswerable, streams, ["hybrid"], True, 0.02)
    assert row["no_answer"] == 0
    [row] = _ask(Service(), answerable, streams, ["hybrid"], False, 0.04)
    assert "answerable" not in row and row["rank"] == 2  # answerable rows are unchanged


# --- the larger dev set: tools/media/queries-extra.json ---------------------------------------------------

EXTRA = Path(__file__).resolve().parents[2] / "tools" / "media" / "queries-extra.json"


def test_every_extra_query_says_how_it_was_labelled():
    items = json.loads(EXTRA.read_text(encoding="utf-8"))["queries"]
    assert len({q["id"] for q in items}) == len(items)
    for item in items:
        assert isinstance(item.get("evidence"), str) and len(item["evidence"]) > 20, item["id"]
        assert not Path(item["media"]).is_absolute(), item["id"]  # relative to the shared media folder
    unanswerable = [q for q in items if q.get("answerable") is False]
    assert len(unanswerable) >= 6
    assert all(q.get("start") is None and q.get("end") is None for q in unanswerable)
    assert len(items) - len(unanswerable) >= 40


def test_the_extra_query_file_loads_over_the_dev_media(media):
    queries = load_queries(EXTRA, media_root=media)
    answerable = [q for q in queries if q.answerable]
    assert len(answerable) >= 40
    assert {part for q in answerable for part in q.modality.split("+")} == {"visual", "speech", "ocr"}
    dev_videos = {
        "derived/narrated_slideshow.mp4", "video/display-dual-monitors.webm", "video/movie-hello.mp4", "video/bikes.mp4",
        "video/moviepy_timecode_example.mp4",
    }
    assert {q.media for q in answerable} == dev_videos
    assert all(q.path.is_file() for q in queries)


def test_the_extra_labels_lie_within_their_media(media):
    from streammm.media.probe import probe

    durations: dict[Path, float] = {}
    for query in load_queries(EXTRA, media_root=media):
        if query.path not in durations:
            durations[query.path] = probe(query.path).duration_s
        if query.answerable:
            assert 0 <= query.start < query.end <= durations[query.path] + 1e-3, (query.id, query.end, durations[query.path])


def test_the_extra_paraphrases_share_no_word_with_the_transcript(media):
    """The paraphrase queries of the slideshow's utterances test the text encoder, not word matching."""
    import re

    said = {w["word"].lower() for w in json.loads((media / "derived" / "narrated_slideshow.words.json").read_text())["words"]}
    items = {q["id"]: q for q in json.loads(EXTRA.read_text(encoding="utf-8"))["queries"]}
    paraphrases = [q for q in items.values() if "paraphrase, shares no word" in q["evidence"]]
    assert len(paraphrases) >= 5
    for item in paraphrases:
        assert not set(re.findall(r"[a-z']+", item["query"].lower())) & said, item["id"]
