"""Questions about what a slide says, on slides indexed by the real pipeline: "what are the bullet points on the
network latency slide?" is answered with every line of that slide (its title finds it; its bullets answer), top
to bottom, and nothing of the slides before and after it.

We have no third-party slide deck, so the test makes one: the text-heavy video of `streammm bench --media
text-heavy` (media/synthetic.py), 9 s of three slides, 3 s each, no audio."""

from __future__ import annotations

import re

import pytest

from streammm.media.text_heavy import slide_text, write_text_heavy
from streammm.stages.ocr import line_key
from tests.conftest import extractive_answer, indexed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("slides")
    with indexed(write_text_heavy(folder / "slides.mp4", 9.0, section_s=9.0, slide_s=3.0), folder / "data") as service:
        yield service


@pytest.mark.parametrize(
    ("question", "slide"),
    [
        ("what are the bullet points on the network latency slide?", 1),
        ("what does the slide about the storage budget say?", 2),
        ("what is on the last slide?", 2),
    ],
)
def test_what_a_slide_says_is_every_line_of_it_top_to_bottom(service, question, slide):
    """Each had been answered with the slide's title, or the best three lines of any slide."""
    said = [key(text) for text in _quoted(extractive_answer(service, question))]
    title, bullets = slide_text(slide)
    wanted = [key(title), *(key(b) for b in bullets)]
    assert [s for s in said if s in wanted] == wanted, said  # all of it, top to bottom
    others = {key(t) for i in range(3) if i != slide for t in (slide_text(i)[0], *slide_text(i)[1])}
    assert not others & set(said), said


def key(text: str) -> str:
    """A line as compared: line_key, less a bullet OCR may read as part of it ("• Publish query cost")."""
    return re.sub(r"^\W+", "", line_key(text))


def _quoted(text: str) -> list[str]:
    return re.findall(r"“([^”]*)”", text)
