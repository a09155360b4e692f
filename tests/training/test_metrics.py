"""Metrics against small values computed by hand."""

from __future__ import annotations

import math

import pytest

from training.metrics import coverage, mase, mase_scale, msis, pinball, smape

INSAMPLE = [10.0, 12.0, 11.0, 15.0]  # |diffs| = 2, 1, 4 -> scale 7/3


def test_mase_scale_is_mean_absolute_first_difference() -> None:
    assert mase_scale(INSAMPLE) == pytest.approx(7 / 3)


def test_mase_golden() -> None:
    # errors |16-15| = 1, |14-18| = 4 -> MAE 2.5; / (7/3) = 15/14
    assert mase([16.0, 14.0], [15.0, 18.0], INSAMPLE) == pytest.approx(15 / 14)


def test_mase_of_flat_history_is_nan() -> None:
    assert math.isnan(mase([1.0], [2.0], [3.0, 3.0, 3.0]))


def test_smape_golden() -> None:
    # 200*|100-110|/210 = 9.5238..., 200*|50-40|/90 = 22.222... -> mean 15.873
    assert smape([100.0, 50.0], [110.0, 40.0]) == pytest.approx((2000 / 210 + 2000 / 90) / 2)
    assert smape([0.0], [0.0]) == 0.0


def test_msis_golden() -> None:
    # level 95 -> 2/alpha = 40. Row 1 inside: width 4. Row 2 below by 1: width 4 + 40 = 44.
    # mean 24 / scale 7/3 = 72/7
    assert msis([12.0, 9.0], [10.0, 10.0], [14.0, 14.0], INSAMPLE, 95) == pytest.approx(72 / 7)


def test_coverage_golden() -> None:
    assert coverage([1.0, 5.0, 10.0, 3.0], [0.0, 0.0, 0.0, 3.0], [2.0, 4.0, 10.0, 4.0]) == 0.75


def test_pinball_golden() -> None:
    # q=0.9: y-f = 2 -> 1.8; y-f = -1 -> 0.1; mean 0.95
    assert pinball([12.0, 9.0], [10.0, 10.0], 0.9) == pytest.approx(0.95)
    with pytest.raises(ValueError):
        pinball([1.0], [1.0], 1.0)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="same shape"):
        smape([1.0, 2.0], [1.0])
