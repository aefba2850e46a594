"""A fresh clone works on its own: the README's first command runs in a clone with nothing beside it.

The clone is of the committed HEAD, in an empty temporary directory (no `shared/` next to it). The
installed virtual environment is reused instead of running tools/setup.sh again (the install is what CI
tests); the clone's own code runs (PYTHONPATH), from the clone's directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TRUTH = (7.31, 9.84)  # "he was not an ill disposed young man" in samples/narrated_slideshow.words.json


def first_command(readme: str) -> str:
    """The first ```sh block of the README: the main job."""
    return re.search(r"```sh\n(.*?)\n```", readme, re.S).group(1).strip()


def as_python(part: str) -> list[str]:
    """`.venv/bin/streammm ARGS` -> this interpreter running `-m streammm ARGS` (quotes honoured)."""
    import shlex

    words = shlex.split(part)
    assert words[0] == ".venv/bin/streammm", part
    return [sys.executable, "-m", "streammm", *words[1:]]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("fresh")
    subprocess.run(["git", "clone", "-q", str(REPO), str(root / "streammm")], check=True, timeout=120)
    assert not (root / "shared").exists()
    return root / "streammm"


def clone_env(clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_") or k == "STREAMMM_CACHE_DIR"}
    env.update(PYTHONPATH=str(clone), PYTHONUNBUFFERED="1")
    return env


def test_the_readme_first_command_finds_the_samples_moment_in_a_fresh_clone(clone: Path) -> None:
    env = clone_env(clone)
    imported = subprocess.run([sys.executable, "-c", "import streammm; print(streammm.__file__)"], cwd=clone, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert imported.startswith(str(clone)), imported

    setup, up, search = (part.strip() for part in first_command((clone / "README.md").read_text()).split("&&"))
    assert setup == "tools/setup.sh"
    assert "samples/" in up and (clone / "samples" / "narrated_slideshow.mp4").is_file()

    started = time.monotonic()
    ran = subprocess.run(as_python(up), cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    up_s = time.monotonic() - started
    assert ran.returncode == 0, ran.stderr[-4000:]
    # Quiet by default: no warning from a third party (RapidOCR, LanceDB, Python's warnings, ...).
    foreign = [line for line in ran.stderr.splitlines()
               if re.search(r"warning", line, re.I) and not re.match(r"\S+ WARNING streammm[.:]", line)]
    assert foreign == [], "\n".join(foreign[:20])

    found = subprocess.run(as_python(search), cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-4000:]
    best = found.stdout.splitlines()[0]
    match = re.match(r"\[narrated_slideshow @ (\d+):(\d+)–(\d+):(\d+)\]", best)
    assert match, found.stdout
    start_s, end_s = int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])
    assert start_s <= TRUTH[0] and TRUTH[1] <= end_s + 1, best  # mm:ss is rounded to the second
    print(f"fresh clone: up --once {up_s:.0f} s; best moment: {best[:100]}")


def test_media_tests_skip_with_one_line_naming_fetch_media_in_a_fresh_clone(clone: Path) -> None:
    """Without ../shared/media the tests that need it skip, all with one line; the others still run."""
    tests = ["tests/unit/test_speech_handler.py", "tests/unit/test_eval_metrics.py::test_the_shared_query_file_loads",
             "tests/unit/test_moments.py"]
    ran = subprocess.run([sys.executable, "-m", "pytest", "-ra", "-q", "-p", "no:cacheprovider", *tests], cwd=clone,
                         env=clone_env(clone), capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    skipped = [line for line in ran.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, ran.stdout[-4000:]
    assert "dev media not found" in skipped[0] and "tools/fetch-media.sh" in skipped[0], skipped[0]
    assert re.search(r"\d+ passed", ran.stdout), ran.stdout[-2000:]
