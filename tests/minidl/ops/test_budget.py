"""Splitting work into blocks within a byte budget (the blocks conv and Winograd work in)."""

import pytest

from minidl.ops import _budget


def test_runs_cover_every_item_once_within_the_budget():
    assert _budget.runs(7, 10, 30) == [(0, 3), (3, 6), (6, 7)]
    assert _budget.runs(3, 10, 5) == [(0, 1), (1, 2), (2, 3)]  # an item over budget: alone
    assert _budget.runs(2, 10, 1000) == [(0, 2)]


@pytest.mark.parametrize("budget, expected", [
    (10**6, [(0, 3, (0, 4))]),  # the whole batch fits
    (80, [(0, 2, (0, 4)), (2, 3, (0, 4))]),  # two images (4 rows of 10 bytes) per block
    (39, [(i, i + 1, rows) for i in range(3) for rows in [(0, 3), (3, 4)]]),  # row bands
    (5, [(i, i + 1, (r, r + 1)) for i in range(3) for r in range(4)]),  # a row over budget
])
def test_bands_are_whole_images_when_one_fits_else_rows_of_one(budget, expected):
    assert _budget.bands(3, 4, 10, budget) == expected
