"""TTML subtitle files (media/ttml.py) and a TTML file beside a video (media/captions.py).

The real TTML here is the GNOME "Displays" tutorial's own: the `<media>` element of the gnome-help page
shipped with the dev screencast (../shared/media/annotations/display-dual-monitors.page) holds it, inside the
comment the page keeps the video section in. The other documents are written here in the shapes real files
have (EBU-TT-D, IMSC with frames and ticks, DFXP, words revealed span by span).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammm.ingest.sources import file_segments
from streammm.media.captions import read_captions
from streammm.media.synthetic import MATRIX, write_case
from streammm.media.ttml import MAX_TTML_BYTES, Rates, TtmlError, parse_time, ttml_cues
from streammm.paths import shared_media
from tests.conftest import tutorial_ttml

PAGE = shared_media() / "annotations" / "display-dual-monitors.page"
TT = 'xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter"'


def cues(document: str) -> list[tuple[float, float | None, str]]:
    return [(round(a, 3), None if b is None else round(b, 3), text) for a, b, text in ttml_cues(document.encode()).timed]


@pytest.mark.skipif(not PAGE.exists(), reason="dev media missing: run tools/fetch-media.sh")
def test_the_tutorials_own_captions_are_read_at_their_seconds_with_the_words_of_their_markup():
    """Times on each `<tt:div>`, the words in `<tt:p>`, the page's own `<gui>` and `<input>` words inside."""
    found = cues(tutorial_ttml(PAGE))
    assert [(a, b) for a, b, _ in found] == [(1, 3), (3, 9), (9, 16), (16, 25), (25, 29), (29, 33), (33, 37)]
    assert found[0][2] == "Type displays in the Activities overview to open the Displays settings."
    assert found[4][2] == "If you would like both monitors to display the same content, check the Mirror displays box."


@pytest.mark.parametrize(
    "value, rates, seconds",
    [
        ("00:00:25.000", Rates(), 25.0),
        ("01:02:03.5", Rates(), 3723.5),
        ("00:00:01:12", Rates(frame=25), 1.48),  # frames at 25 fps
        ("00:00:01:12.1", Rates(frame=25, sub_frame=2), 1.5),  # and a sub-frame
        ("25s", Rates(), 25.0),
        ("1.5m", Rates(), 90.0),
        ("2h", Rates(), 7200.0),
        ("250ms", Rates(), 0.25),
        ("50f", Rates(frame=25), 2.0),
        ("900900t", Rates(tick=10_000_000), 0.09009),
    ],
)
def test_clock_and_offset_times(value: str, rates: Rates, seconds: float):
    assert parse_time(value, rates) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "", "1:2:3", "-5s", "5 s", "12", "00:00:61.0:x"])
def test_what_is_not_a_time_is_refused(value: str):
    with pytest.raises(ValueError):
        parse_time(value)


def test_times_count_from_the_parents_begin_and_end_at_the_first_of_end_dur_and_the_parents_end():
    document = f"""<tt {TT} xml:lang="en"><body begin="10s"><div begin="2s" end="20s">
      <p begin="1s" end="3s">counted from the div</p>
      <p begin="4s" dur="1.5s">a duration</p>
      <p begin="5s" end="9s" dur="2s">whichever ends first</p>
      <p begin="15s" end="40s">cut at its div's end</p>
      <p>as long as its div</p>
    </div></body></tt>"""
    assert cues(document) == [
        (13.0, 15.0, "counted from the div"),
        (16.0, 17.5, "a duration"),
        (17.0, 19.0, "whichever ends first"),
        (27.0, 30.0, "cut at its div's end"),
        (12.0, 30.0, "as long as its div"),
    ]


def test_a_sequence_container_plays_its_cues_one_after_another():
    document = f"""<tt {TT}><body><div timeContainer="seq" begin="1s">
      <p dur="2s">first</p><p dur="3s">second</p><p begin="1s" dur="1s">after a pause</p>
    </div></body></tt>"""
    assert cues(document) == [(1.0, 3.0, "first"), (3.0, 6.0, "second"), (7.0, 8.0, "after a pause")]


def test_an_ebu_tt_d_document_with_styling_regions_metadata_and_line_breaks():
    """What a broadcaster's file holds besides the cues (head, styling, regions, metadata, `tt:` prefixes,
    `<br/>` between lines, nested styled spans, indentation): only the body's words, a line break a space."""
    document = """<?xml version="1.0" encoding="UTF-8"?>
    <tt:tt xmlns:tt="http://www.w3.org/ns/ttml" xmlns:tts="http://www.w3.org/ns/ttml#styling"
           xmlns:ttm="http://www.w3.org/ns/ttml#metadata" xmlns:ebuttm="urn:ebu:tt:metadata" xml:lang="de">
      <tt:head>
        <tt:metadata><ttm:title>Tagesschau</ttm:title><ebuttm:documentMetadata/></tt:metadata>
        <tt:styling><tt:style xml:id="s1" tts:color="#FFFFFF"/></tt:styling>
        <tt:layout><tt:region xml:id="bottom" tts:origin="10% 80%" tts:extent="80% 20%"/></tt:layout>
      </tt:head>
      <tt:body><tt:div>
        <tt:p xml:id="sub1" region="bottom" begin="00:00:01.000" end="00:00:03.500">
          <tt:span style="s1">Guten Abend,</tt:span><tt:br/><tt:span style="s1">meine <tt:span>Damen</tt:span> und Herren.</tt:span>
        </tt:p>
        <tt:p xml:id="sub2" begin="00:00:04.000" end="00:00:06.000">  Straße &amp; Brücke  </tt:p>
      </tt:div></tt:body>
    </tt:tt>"""
    assert cues(document) == [(1.0, 3.5, "Guten Abend, meine Damen und Herren."), (4.0, 6.0, "Straße & Brücke")]


def test_imsc_frames_and_ticks_at_the_documents_rates():
    document = f"""<tt {TT} ttp:frameRate="30" ttp:frameRateMultiplier="1000 1001" ttp:tickRate="10000000">
      <body><div>
        <p begin="00:00:10:15" end="00:00:12:00">NTSC frames</p>
        <p begin="150000000t" end="170000000t">ticks</p>
      </div></body></tt>"""
    found = cues(document)
    assert found[0][:2] == (pytest.approx(10 + 15 / (30 / 1.001), abs=1e-3), 12.0)  # 15 frames at 29.97 fps
    assert found[1] == (15.0, 17.0, "ticks")


def test_words_revealed_span_by_span_are_each_a_cue_at_their_own_seconds():
    document = f"""<tt {TT}><body><div><p begin="2s" end="6s">
      <span begin="0s" end="1s">one</span> <span begin="1s">two</span> <span><span begin="3s" dur="0.5s">three</span></span>
    </p></div></body></tt>"""
    assert cues(document) == [(2.0, 3.0, "one"), (3.0, 6.0, "two"), (5.0, 5.5, "three")]


def test_a_cue_without_any_time_shows_until_the_next_one():
    """A DFXP file timed only where the cue starts: its end is the next cue's start (captions.with_ends)."""
    document = '<tt xmlns="http://www.w3.org/2006/10/ttaf1"><body><div><p begin="1s">a</p><p begin="2.5s">b</p></div></body></tt>'
    assert cues(document) == [(1.0, None, "a"), (2.5, None, "b")]


@pytest.mark.parametrize(
    "document, reason",
    [
        ("<tt><body><p begin='1s'>unclosed</body></tt>", "not well-formed XML"),
        ("<html><body><p>a web page</p></body></html>", "not TTML's <tt>"),
        ("", "not well-formed XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE tt [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><tt><body><p begin="1s">&c;&c;&c;&c;</p></body></tt>',
            "declares XML entities",
        ),
        ("<tt><body>" + "<div>" * 100 + "<p begin='1s'>deep</p>" + "</div>" * 100 + "</body></tt>", "nested deeper than 64"),
    ],
)
def test_what_is_not_a_ttml_file_is_refused_with_the_reason(document: str, reason: str):
    with pytest.raises(TtmlError, match=re.escape(reason)):
        ttml_cues(document.encode())


def test_a_document_without_a_body_or_words_has_no_cues():
    assert ttml_cues(f"<tt {TT}><head/></tt>".encode()).timed == []
    assert ttml_cues(f"<tt {TT}><body><div><p begin='1s' end='2s'>  </p></div></body></tt>".encode()).timed == []


def test_a_file_larger_than_any_subtitle_file_is_refused_before_it_is_parsed():
    with pytest.raises(TtmlError, match="larger than"):
        ttml_cues(b"<tt>" + b" " * MAX_TTML_BYTES + b"</tt>")


def test_cues_with_unreadable_times_are_skipped_and_counted_and_the_rest_kept():
    document = f"""<tt {TT}><body><div>
      <p begin="1s" end="2s">kept</p><p begin="soon" end="2s">bad begin</p><p begin="3s" dur="x">bad dur</p>
      <p begin="4s" end="3s">ends before it begins</p><p begin="5s" end="6s"> </p><p begin="7s" end="8s">kept too</p>
    </div><div begin="later"><p>lost with its div</p><p begin="1s">and this</p></div>
    <div><p begin="9s" end="12s">a <span begin="x">bad span</span> <span begin="1s">good span</span></p></div></body></tt>"""
    result = ttml_cues(document.encode())
    assert [text for _, _, text in result.timed] == ["kept", "kept too", "good span"]
    assert result.skipped == 5  # two cues, a div's two, a span


def test_a_feature_films_twenty_thousand_cues_are_all_read_in_order():
    """Load: a 3-hour film's subtitles (about 1.3 MB of TTML)."""
    body = "".join(f'<p begin="{i * 0.5:.3f}s" dur="0.4s">line number {i}</p>' for i in range(20_000))
    found = ttml_cues(f"<tt {TT}><body><div>{body}</div></body></tt>".encode()).timed
    assert len(found) == 20_000
    assert found[12_345] == (pytest.approx(6172.5), pytest.approx(6172.9), "line number 12345")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet="<>/=\"' tbodypspanbegindur0123456789:.smf&;!", max_size=300).map(str.encode))
def test_any_bytes_are_read_or_refused_with_a_ttml_error(data: bytes):
    try:
        result = ttml_cues(data)
    except TtmlError:
        return
    assert all(end is None or end > start for start, end, _ in result.timed)


def test_a_ttml_file_beside_the_video_is_read_and_carried_by_its_segments(tmp_path: Path):
    """`NAME.ttml` (or `NAME.dfxp`) beside `NAME.mp4`, as an SRT file would be."""
    video = write_case(next(c for c in MATRIX if c.name == "mp4_one_keyframe"), tmp_path)
    video.with_suffix(".dfxp").write_text(f'<tt {TT}><body><div><p begin="0.5s" end="1.5s">the <span>orange</span> kite</p></div></body></tt>')
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(video)] == [(0.5, 1.5, "the orange kite")]
    first = next(iter(file_segments(str(video), "plain", 2.0)))
    assert first.captions[0].text == "the orange kite" and first.run.has_captions


def test_a_broken_ttml_file_beside_the_video_is_logged_and_the_video_still_read(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="streammm.media.captions")
    video = write_case(next(c for c in MATRIX if c.name == "mp4_one_keyframe"), tmp_path)
    video.with_suffix(".ttml").write_text("<tt><body><p begin='1s'>never closed</body>")
    assert read_captions(video) == ()
    assert "its subtitles could not be read (not well-formed XML" in caplog.text
    with video.with_suffix(".ttml").open("wb") as huge:  # 64 MB, sparse: refused by its size, never read
        huge.truncate(2 * MAX_TTML_BYTES)
    assert read_captions(video) == ()
    assert "67,108,864 bytes: larger than the 33,554,432 a subtitle file may be" in caplog.text
    assert sum(1 for _ in file_segments(str(video), "plain", 2.0)) >= 3
