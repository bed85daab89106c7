"""Intervals and paired tests: checked against their textbook formulas on small real-shaped inputs."""

import math

import pytest

from helpers import BookError
import numpy as np

from helpers.measure.statistics import accuracy_ci95, add_statistics, paired_bootstrap_ci, paired_comparison

LABELS = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1] * 10  # 100 sentences


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def exact_mcnemar(b: int, c: int) -> float:
    n, k = b + c, min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def test_accuracy_interval_is_wilsons():
    predictions = LABELS[:90] + [1 - y for y in LABELS[90:]]  # 90 of 100 right
    lo, hi = accuracy_ci95(LABELS, predictions)
    assert (lo, hi) == pytest.approx(wilson(90, 100), abs=1e-9)
    assert lo < 0.9 < hi


def test_paired_comparison_counts_discordant_pairs_and_tests_them_exactly():
    baseline = list(LABELS)
    variant = list(LABELS)
    for i in range(0, 12):  # the variant gets 12 sentences wrong that FP32 got right…
        variant[i] = 1 - LABELS[i]
    for i in range(50, 53):  # …and FP32 gets 3 wrong that the variant got right
        baseline[i] = 1 - LABELS[i]
    result = paired_comparison(LABELS, baseline, variant, seed=1)
    assert (result["fp32_right_only"], result["variant_right_only"], result["flipped"]) == (12, 3, 15)
    assert result["mcnemar_p"] == pytest.approx(exact_mcnemar(12, 3), rel=1e-9)
    lo, hi = result["accuracy_delta_ci95"]
    assert lo <= (3 - 12) / 100 <= hi and -1 <= lo < hi <= 1
    assert paired_comparison(LABELS, baseline, variant, seed=1) == result  # seeded: reproducible


def test_identical_predictions_are_indistinguishable():
    result = paired_comparison(LABELS, LABELS, LABELS)
    assert result == {"flipped": 0, "fp32_right_only": 0, "variant_right_only": 0, "mcnemar_p": 1.0,
                      "accuracy_delta_ci95": [0.0, 0.0]}


def _mean_difference(a, b, axis):
    return a.mean(axis=axis) - b.mean(axis=axis)


def test_paired_bootstrap_resamples_pairs_together():
    rng = np.random.default_rng(3)
    shared = rng.normal(10, 3, 200)  # a large common term that pairing cancels
    a, b = shared + 0.5 + rng.normal(0, 0.05, 200), shared
    lo, hi = paired_bootstrap_ci(a, b, _mean_difference, seed=2)
    assert lo < 0.5 < hi and hi - lo < 0.1  # unpaired, the spread of `shared` would make it ~1.2 wide
    assert paired_bootstrap_ci(a, b, _mean_difference, seed=2) == [lo, hi]


def test_statistics_refuse_mismatched_predictions():
    with pytest.raises(BookError, match="as many predictions as labels"):
        accuracy_ci95(LABELS, LABELS[:-1])
    with pytest.raises(BookError):
        paired_comparison([], [], [])


def test_a_record_gets_intervals_for_every_measured_route_and_tests_for_all_but_fp32():
    wrong_two = [1 - y if i < 2 else y for i, y in enumerate(LABELS)]
    record = {"labels": LABELS, "routes": {"fp32": {"predictions": LABELS},
                                           "int8_dynamic": {"predictions": wrong_two},
                                           "int8_static": {"skipped": "no compiler"}}}
    add_statistics(record)
    assert record["routes"]["fp32"]["accuracy_ci95"] == accuracy_ci95(LABELS, LABELS)
    assert "vs_fp32" not in record["routes"]["fp32"] and "accuracy_ci95" not in record["routes"]["int8_static"]
    assert record["routes"]["int8_dynamic"]["vs_fp32"]["fp32_right_only"] == 2
