"""The one seeded split helper: sizes as counts or fractions, seeded and tail hold-outs."""

from __future__ import annotations

import pytest
import torch

from dlrun.data.splits import check_size, count_of, holdout
from dlrun.errors import DlrunError


def test_count_of_counts_and_fractions() -> None:
    assert count_of(7, 100) == 7
    assert count_of(0.1, 25) == 2  # round(2.5) = 2 (banker's rounding, as Python's round)
    assert count_of(0.25, 40) == 10
    assert count_of(0.01, 10) == 1  # a positive fraction holds out at least one item
    assert count_of(0, 10) == 0


def test_seeded_holdout_is_the_front_of_the_seeded_permutation_sorted() -> None:
    parts = holdout(10, {"test_size": 2, "val_size": 0.3}, seed=4, owner="x")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(4))
    assert parts["test_size"].tolist() == sorted(order[:2].tolist())
    assert parts["val_size"].tolist() == sorted(order[2:5].tolist())
    assert parts["rest"].tolist() == sorted(order[5:].tolist())
    again = holdout(10, {"test_size": 2, "val_size": 0.3}, seed=4, owner="x")
    assert all(torch.equal(parts[k], again[k]) for k in parts)


def test_tail_holdout_without_seed_takes_the_last_items() -> None:
    parts = holdout(8, {"val_size": 3}, seed=None, owner="x")
    assert parts["val_size"].tolist() == [5, 6, 7] and parts["rest"].tolist() == [0, 1, 2, 3, 4]


def test_parts_that_leave_nothing_are_one_line_errors() -> None:
    with pytest.raises(DlrunError, match=r"^mnist: val_size 40 leaves no training images \(the train split has 40\)$"):
        holdout(40, {"val_size": 40}, None, "mnist", items="images")
    with pytest.raises(DlrunError, match="val_size 0.5 and test_size 0.5 leave no training samples"):
        holdout(10, {"val_size": 0.5, "test_size": 0.5}, 0, "gmm2d")


@pytest.mark.parametrize("size, allow_zero", [(0, False), (-1, True), (1.0, False), (0.0, False), (1.5, True), (True, True), ("5", True)])
def test_check_size_refuses_bad_sizes(size: object, allow_zero: bool) -> None:
    with pytest.raises(ValueError, match="val_size"):
        check_size("val_size", size, allow_zero)  # type: ignore[arg-type]


def test_check_size_accepts_counts_fractions_and_zero_where_allowed() -> None:
    for size in (1, 5000, 0.5, 0.01):
        check_size("val_size", size)
    check_size("val_size", 0, allow_zero=True)
    check_size("val_size", 0.0, allow_zero=True)
