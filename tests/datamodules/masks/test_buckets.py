from __future__ import annotations

import pytest

from datamodules.masks.buckets import BUCKETS, hole_ratio_bucket


@pytest.mark.parametrize("ratio,label", [
    (0.0, "0-10%"), (0.05, "0-10%"), (0.1, "0-10%"), (0.1000001, "10-20%"), (0.2, "10-20%"),
    (0.1 + 0.2, "20-30%"), (0.35, "30-40%"), (0.45, "40-50%"), (0.6, "50-60%"), (0.61, ">60%"), (1.0, ">60%"),
])
def test_buckets_are_right_closed_like_the_nvidia_test_set(ratio, label):
    assert hole_ratio_bucket(ratio) == label


def test_labels_and_errors():
    assert BUCKETS[0] == "0-10%" and BUCKETS[-1] == ">60%" and len(BUCKETS) == 7
    with pytest.raises(ValueError):
        hole_ratio_bucket(1.5)
    with pytest.raises(ValueError):
        hole_ratio_bucket(float("nan"))
