"""The thinning rule (stages/pace.py) on its own: thresholds, the gap that keeps it from flapping, and the
streams it never touches."""

from __future__ import annotations

import pytest

from streammm.config import MediaConfig
from streammm.stages.pace import sample_fps

OPTIONS = MediaConfig(sample_fps=1.0, overload_lag_s=4.0, overload_sample_fps=0.5)


@pytest.mark.parametrize(
    ("waited_s", "thinned", "want"),
    [
        (0.0, False, 1.0),
        (3.9, False, 1.0),  # below the threshold: normal
        (4.0, False, 0.5),  # at it: thinned
        (3.0, True, 0.5),  # thinned stays thinned while it waits more than half the threshold
        (2.0, True, 1.0),  # and recovers at half
        (30.0, True, 0.5),
    ],
)
def test_a_paced_stream_is_thinned_past_the_threshold_and_recovers_below_half_of_it(waited_s, thinned, want):
    assert sample_fps(waited_s, thinned=thinned, paced=True, options=OPTIONS) == want


def test_a_batch_is_never_thinned_and_zero_turns_thinning_off():
    assert sample_fps(600.0, thinned=True, paced=False, options=OPTIONS) == 1.0
    off = OPTIONS.model_copy(update={"overload_lag_s": 0.0})
    assert sample_fps(600.0, thinned=True, paced=True, options=off) == 1.0


def test_the_overload_rate_never_raises_the_rate():
    slow = MediaConfig(sample_fps=0.25, overload_lag_s=4.0, overload_sample_fps=0.5)
    assert sample_fps(10.0, thinned=False, paced=True, options=slow) == 0.25


def test_bad_overload_settings_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MediaConfig(overload_sample_fps=0)
    with pytest.raises(ValidationError):
        MediaConfig(overload_lag_s=-1)
