"""Shared fixtures: the real dev media, real models loaded once per session, timelines computed once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streammm.config import Settings, load_settings
from streammm.paths import shared_media


@pytest.fixture(scope="session")
def media() -> Path:
    return shared_media()


@pytest.fixture(scope="session")
def slideshow_truth(media: Path) -> dict:
    return json.loads((media / "derived" / "narrated_slideshow.words.json").read_text())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def perceiver(settings: Settings):
    from streammm.perception import Perceiver

    perceiver = Perceiver(settings)
    perceiver.load_models()
    return perceiver


@pytest.fixture(scope="session")
def timelines(perceiver, media: Path):
    """Timelines of dev videos, computed on first use and shared by every test."""
    cache: dict[str, object] = {}

    def get(relative: str):
        if relative not in cache:
            cache[relative], _ = perceiver.perceive_file(media / relative)
        return cache[relative]

    return get


def pytest_report_header(config: pytest.Config) -> str:
    return f"streammm media: {os.environ.get('STREAMMM_MEDIA_DIR', '../shared/media')}"
