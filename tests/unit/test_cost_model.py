"""The cost model of `bench perception`: CPU seconds per media second per stage, and the streams per machine
they project (floor(cores × utilisation / total))."""

from __future__ import annotations

import pytest

from streammm.bench import cost_markdown, cost_model, perception_markdown, project_streams
from streammm.perception import StageTimes


def row(media: str, decode: float, vision: float, ocr: float, speech: float) -> dict:
    return {"media": media, "cpu_s_per_media_s": {"decode": decode, "vision": vision, "ocr": ocr, "speech": speech}}


@pytest.mark.parametrize(
    ("cost", "cores", "utilisation", "streams"),
    [
        (0.4, 8, 0.8, 16),  # 6.4 / 0.4 is 16 exactly, not 15 from rounding
        (0.4, 2, 0.8, 4),
        (0.5, 16, 0.8, 25),  # 25.6
        (1.6, 2, 0.8, 1),
        (1.7, 2, 0.8, 0),  # one stream needs more than the machine's share
        (0.1, 64, 1.0, 640),
        (3.0, 64, 0.8, 17),  # 17.07
    ],
)
def test_projection_is_the_floor_of_cores_times_utilisation_over_cost(cost, cores, utilisation, streams):
    assert project_streams(cost, cores, utilisation) == streams


@pytest.mark.parametrize(("cost", "cores", "utilisation"), [(0.0, 8, 0.8), (-1.0, 8, 0.8), (0.5, 0, 0.8), (0.5, 8, 0.0), (0.5, 8, 1.5)])
def test_projection_refuses_meaningless_input(cost, cores, utilisation):
    with pytest.raises(ValueError):
        project_streams(cost, cores, utilisation)


def test_cost_model_totals_the_stages_and_projects_each_core_count():
    model = cost_model([row("slides.mp4", 0.05, 0.1, 0.6, 0.25), row("silent.webm", 0.1, 0.1, 0.2, 0.0)], cores=(2, 8, 16, 64), utilisation=0.8)
    assert model["cores"] == [2, 8, 16, 64]
    slides, silent = model["rows"]
    assert slides["total"] == 1.0 and slides["ocr"] == 0.6
    assert slides["streams"] == [1, 6, 12, 51]
    assert silent["total"] == 0.4
    assert silent["streams"] == [4, 16, 32, 128]


def test_nothing_measured_projects_nothing():
    model = cost_model([row("empty.mp4", 0.0, 0.0, 0.0, 0.0)], cores=(2, 8), utilisation=0.8)
    assert model["rows"][0]["total"] == 0.0 and model["rows"][0]["streams"] == [None, None]


def test_markdown_states_what_was_measured_and_one_line_per_core_count():
    model = cost_model([row("text_heavy_120s.mp4", 0.05, 0.1, 0.6, 0.25)], cores=(2, 8, 16, 64), utilisation=0.8)
    text = cost_markdown(model)
    assert "CPU seconds per media second" in text and "CPU time" in text and "ran alone" in text
    assert "media: text_heavy_120s.mp4" in text
    assert "| text_heavy_120s.mp4 | 0.05 s/s | 0.1 s/s | 0.6 s/s | 0.25 s/s | 1.0 s/s |" in text
    assert "- 2 cores at 80 % CPU: 1 of text_heavy_120s.mp4 (streams = floor(2 × 0.8 / total))" in text
    assert "- 8 cores at 80 % CPU: 6 of text_heavy_120s.mp4" in text
    assert "- 16 cores at 80 % CPU: 12 of text_heavy_120s.mp4" in text
    assert "- 64 cores at 80 % CPU: 51 of text_heavy_120s.mp4" in text


def test_perception_markdown_carries_the_cost_model():
    rows = [
        {
            **row("text_heavy_120s.mp4", 0.05, 0.1, 0.6, 0.0),
            "duration_s": 120.0, "inspect_x": 1.2, "decode_x": 20.0, "vision_x": 10.0, "ocr_x": 1.6, "speech_x": None,
            "ocr_frames_pct": 80.0, "ocr_area_pct": 60.0,
        }
    ]
    result = {"device": "cpu", "profile": "bundled", "model_load_s": 3.0, "peak_rss_mb": 900, "rows": rows, "cost_model": cost_model(rows)}
    text = perception_markdown(result)
    assert "| text_heavy_120s.mp4 | 120.0 s | 1.2x | 20.0x | 10.0x | 1.6x | – |" in text
    assert "| text_heavy_120s.mp4 | 0.05 s/s | 0.1 s/s | 0.6 s/s | 0.0 s/s | 0.75 s/s |" in text
    assert "- 64 cores at 80 % CPU: 68 of text_heavy_120s.mp4" in text


def test_stage_times_count_wall_and_cpu_seconds_per_stage():
    times = StageTimes()
    mark = times.add("ocr", (0.0, 0.0))  # from the clocks' zero: both are large and positive
    assert times.ocr_s > 0 and times.ocr_cpu_s > 0 and times.decode_s == times.decode_cpu_s == 0.0
    sum(i * i for i in range(200_000))  # CPU work
    times.add("vision", mark)
    assert times.vision_cpu_s > 0 and times.vision_s > 0
