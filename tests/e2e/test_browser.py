"""The web page in a real headless Chromium: ask a question, follow a citation into the player, phone layout.

Uses Debian's `chromium` (not a Playwright-downloaded browser), so nothing is downloaded at test time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from streammm.config import STRATEGIES

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
CHROMIUM = shutil.which("chromium")

# skip before any fixture runs (the session's dev server indexes five videos first)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH; install it with `apt-get install chromium` (Debian) to run the browser tests"),
]

QUESTION = "when does the narrator say he was not an ill disposed young man?"
TRUTH = ("narrated_slideshow", 7.31, 9.84)  # forced alignment of the utterance (shared/media/queries.json)
SLACK_S = 0.5  # the browser seeks to a frame boundary
TIMEOUT_MS = 60_000


def artifacts_dir() -> Path:
    directory = Path(os.environ.get("STREAMMM_TEST_ARTIFACTS", "test-artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def played_from(page, stream: str) -> object:  # type: ignore[no-untyped-def]
    """Where the player is once it has loaded `stream`'s media and finished seeking (or why it cannot play)."""
    return page.wait_for_function(
        """([stream]) => {
            const p = document.getElementById('player');
            if (p.error) return 'media error ' + p.error.code + ': ' + p.error.message;
            if (p.dataset.stream !== stream || p.readyState < 1 || p.seeking || p.currentTime <= 0) return false;
            return p.currentTime;
        }""",
        arg=[stream],
        timeout=TIMEOUT_MS,
    ).json_value()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_answer_citation_seeks_player(browser, dev_server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page_errors: list[str] = []  # uncaught exceptions in the page's script
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(dev_server.url + "/", wait_until="load")
        page.wait_for_selector("#streams button.stream[data-stream='narrated_slideshow']", timeout=TIMEOUT_MS)
        # the strategy select is filled from GET /v1/config, the server's default chosen
        page.wait_for_function("document.querySelectorAll('#strategy option').length > 1", timeout=TIMEOUT_MS)
        assert page.eval_on_selector_all("#strategy option", "options => options.map(o => o.value)") == list(STRATEGIES)
        assert page.input_value("#strategy") == "hybrid"

        page.fill("#question", QUESTION)
        page.click("#ask")

        # moments first, then the streamed answer; answer.done turns its citation tags into links
        page.wait_for_selector("#moments li", timeout=TIMEOUT_MS)
        citation = page.wait_for_selector("#answer a.citation", timeout=TIMEOUT_MS)
        assert citation is not None
        answer_text = page.inner_text("#answer")
        assert citation.inner_text() in answer_text
        assert page.locator("#ask-error").is_hidden(), page.inner_text("#ask-error")

        stream = citation.get_attribute("data-stream")
        link = citation.inner_text()
        assert link.startswith(f"[{stream} @ ") and link.endswith("]"), f"the link is not the citation's tag: {link!r}"
        start = float(citation.get_attribute("data-start"))
        end = float(citation.get_attribute("data-end"))
        truth_stream, truth_start, truth_end = TRUTH
        assert stream == truth_stream, f"first citation {citation.inner_text()} is not of {truth_stream}: {answer_text!r}"
        assert start < truth_end and end > truth_start, f"cited {start}-{end} s does not overlap {truth_start}-{truth_end} s"

        citation.click()
        # the player loads the stream's media, seeks and plays; take currentTime as soon as the seek is done
        current = played_from(page, stream)
        assert isinstance(current, (int, float)), f"the player could not play {stream}: {current}"
        assert start - SLACK_S <= current <= end + SLACK_S, f"player at {current} s, citation {start}-{end} s"

        media_url = next(s["media_url"] for s in page.request.get(dev_server.url + "/v1/streams").json()["streams"] if s["stream_id"] == stream)
        assert media_url and page.evaluate("document.getElementById('player').currentSrc").endswith(media_url)
        assert page.locator("#player-note").is_hidden(), page.inner_text("#player-note")

        screenshot = artifacts_dir() / "browser-answer.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.is_file() and screenshot.stat().st_size > 0
        assert not page_errors, page_errors
    finally:
        context.close()


def test_the_first_moment_is_fitted_to_the_words_and_seeks_the_player_to_their_start(browser, dev_server) -> None:
    """The moments list shows evidence-bounded spans: the first moment for the spoken sentence is the words'
    own 7.31-9.84 s (not a 4-12 s neighbourhood on the window grid), and clicking it plays from there."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(dev_server.url + "/", wait_until="load")
        page.wait_for_selector("#streams button.stream[data-stream='narrated_slideshow']", timeout=TIMEOUT_MS)
        page.fill("#question", QUESTION)
        page.click("#ask")
        first = page.wait_for_selector("#moments li button.moment", timeout=TIMEOUT_MS)
        truth_stream, truth_start, truth_end = TRUTH
        stream, start, end = first.get_attribute("data-stream"), float(first.get_attribute("data-start")), float(first.get_attribute("data-end"))
        assert stream == truth_stream, page.inner_text("#moments")
        assert abs(start - truth_start) <= 0.5 and abs(end - truth_end) <= 0.5, f"first moment {start}-{end} s, the words {truth_start}-{truth_end} s"
        # It shows its calibrated relevance (a share), not the fused rank's score (0.03 for every moment).
        label = first.query_selector(".score").inner_text()  # e.g. "relevance 87%"
        assert re.fullmatch(r"relevance \d{1,3}%", label) and int(label.split()[1][:-1]) >= 50, label
        first.click()
        current = played_from(page, stream)
        assert isinstance(current, (int, float)), f"the player could not play {stream}: {current}"
        assert abs(current - start) <= SLACK_S, f"player at {current} s, the moment starts at {start} s"
    finally:
        context.close()


def test_phone_layout(browser, dev_server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(dev_server.url + "/", wait_until="load")
        page.wait_for_selector("#streams button.stream", timeout=TIMEOUT_MS)
        assert page.locator("#question").is_visible()
        assert page.locator("#ask").is_visible()
        assert page.locator("#answer").is_visible()
        assert page.locator("#player").is_visible()
        # the question box is on the first screen, inside the viewport
        box = page.locator("#question").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll at 390 px: scrollWidth {widths[0]} > innerWidth {widths[1]}"
        page.screenshot(path=str(artifacts_dir() / "browser-phone.png"), full_page=True)
    finally:
        context.close()
