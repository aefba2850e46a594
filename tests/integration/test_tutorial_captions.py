"""A screencast indexed with its own captions beside it, by the real pipeline (`streammm up --once`).

The GNOME "Displays" screencast (video/display-dual-monitors.webm) is published in gnome-help with timed
captions in TTML, which the page's `<media>` element plays over it (annotations/display-dual-monitors.page).
The test copies the video and writes those captions beside it as `display-dual-monitors.ttml`, as a platform
ingests a video delivered with its subtitle file. What the captions say is found at their seconds; what the
frames show (the dialog's text, read by OCR) still is at its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streammm.qa.service import QueryService, SearchRequest
from tests.conftest import extractive_answer, indexed, tutorial_ttml

pytestmark = pytest.mark.integration
VIDEO = "display-dual-monitors.webm"


@pytest.fixture(scope="module")
def service(media: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("tutorial")
    video = folder / VIDEO
    shutil.copyfile(media / "video" / VIDEO, video)
    video.with_suffix(".ttml").write_text(tutorial_ttml(media / "annotations" / "display-dual-monitors.page"), encoding="utf-8")
    with indexed(video, folder / "data") as service:
        yield service


def test_the_captions_words_find_the_step_they_caption_at_its_seconds(service: QueryService):
    """The caption "... check the Mirror displays box." is shown 25-29 s: those seconds are a moment, before
    28.1 s, where the panel's own "Mirror Displays" box appears. Asked as a click, the tick comes first: the box's
    row pressed at 27.87-28.13 s, kept as the step that made it, which the frames tell as the caption does (from
    where the screen last changed but for the pointer, 3 s at most: 24.87 s)."""
    moments = service.moments(SearchRequest("check the Mirror displays box", k=5))
    (tick,) = [m for m in moments if m.evidence == "pressed"]
    assert moments[0] is tick and 24.5 < tick.start_s < 27.87 < tick.end_s < 29.0, (tick.start_s, tick.end_s)
    step = next(i for i, m in enumerate(moments) if (m.start_s, m.end_s, m.evidence) == (25.0, 29.0, "ocr"))
    assert "check the Mirror displays box." in moments[step].evidence_text
    assert any(abs(m.start_s - 28.13) < 0.5 for m in moments[step + 1 :])
    caption = service.moments(SearchRequest("if you would like both monitors to display the same content", k=5))[0]
    assert (caption.start_s, caption.end_s, caption.evidence) == (25.0, 29.0, "ocr")


def test_a_how_question_is_answered_with_the_step_that_tells_it(service: QueryService):
    answer = extractive_answer(service, "how do I make both monitors show the same content?")
    assert "check the Mirror displays box." in answer and "@ 00:25–" in answer, answer


def test_what_the_frames_show_is_still_found_where_they_show_it(service: QueryService):
    """The captions add to the video's on-screen text: the confirmation dialog is read by OCR at 31.0-32.6 s
    (the caption of that step, 29-33 s, says "click Apply", not the dialog's words)."""
    top = service.moments(SearchRequest("Does the display look OK?", k=3))[0]
    assert (round(top.start_s, 1), round(top.end_s, 1), top.evidence_text) == (31.0, 32.6, "Does the display look OK?")
