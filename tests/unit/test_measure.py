"""The one percentile definition the benchmark tables use: linear interpolation between closest ranks."""

from __future__ import annotations

import pytest

from streammm.measure import percentile


def test_no_values_has_no_percentile() -> None:
    assert percentile([], 50) is None


def test_one_value_is_every_percentile() -> None:
    assert percentile([7.0], 0) == 7.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([7.0], 99) == 7.0


def test_ends_are_the_minimum_and_the_maximum() -> None:
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_a_position_on_a_rank_is_that_value() -> None:
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 50) == 3.0  # unsorted input; position 2
    assert percentile([0.0, 10.0, 20.0, 30.0, 40.0], 25) == 10.0  # position 1


def test_a_position_between_ranks_interpolates() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5  # the mean of the middle two, not either of them
    assert percentile([1.0, 2.0, 3.0, 4.0], 75) == 3.25  # position 2.25
    assert percentile([0.0, 10.0], 37.5) == 3.75  # position 0.375
    assert percentile([1.0, 2.0], 95) == 1.95  # nearest rank would say 2.0
    assert percentile(range(1, 101), 99) == 99.01  # position 98.01, between 99 and 100


def test_integers_give_a_float() -> None:
    value = percentile([1, 2, 3], 50)
    assert value == 2.0 and isinstance(value, float)


@pytest.mark.parametrize("q", [-1, 100.5, float("nan")])
def test_q_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0, 2.0], q)
