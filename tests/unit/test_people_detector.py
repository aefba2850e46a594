"""The bundled profile's people and face detectors (OpenCV) on pictures of any size.

OpenCV 4.14's HOG people detector crashes the whole process (a segfault, which no `except` catches) on a
picture under ~100 px high: a 64x48 video killed `streammm up` and every stream it was indexing. Pictures
are tagged in a child process here, so a crash fails this test instead of ending the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TAG_IN_A_CHILD = """
import json, sys
import numpy as np
from PIL import Image
from streammm.models.bundled_vision import OpenCvTagger
tagger = OpenCvTagger()
picture = Image.open(sys.argv[1]).convert("RGB")
sizes = json.loads(sys.argv[2])
print(json.dumps([tagger.tags(np.asarray(picture.resize(tuple(size)))) for size in sizes]))
"""


def tags_of(picture: Path, sizes: list[tuple[int, int]]) -> list[list[str]]:
    """The tagger's tags for `picture` resized to each (width, height), tagged in a child process."""
    done = subprocess.run([sys.executable, "-c", TAG_IN_A_CHILD, str(picture), json.dumps(sizes)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"tagging crashed the process (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout)


@pytest.fixture
def astronaut(media: Path) -> Path:
    return media / "images" / "skimage" / "astronaut.png"  # a person, face on


def test_tiny_pictures_are_tagged_without_crashing_and_find_no_one(astronaut: Path):
    sizes = [(64, 48), (48, 64), (300, 96), (64, 96), (64, 127), (16, 16), (1, 1)]
    assert tags_of(astronaut, sizes) == [[] for _ in sizes]


def test_people_and_faces_are_still_found_in_pictures_large_enough(astronaut: Path):
    full, window = tags_of(astronaut, [(512, 512), (64, 128)])
    assert full == ["person", "face"]
    assert window == []  # the detector's own window: it runs, and this astronaut is too small to find
