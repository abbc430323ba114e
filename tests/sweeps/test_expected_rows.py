"""Every ablation row of the specs has a sweep row (the list: tests/sweeps/expected_rows.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sweeps.spec import load_sweep, sweep_names

EXPECTED = yaml.safe_load((Path(__file__).parent / "expected_rows.yaml").read_text())


def normalise(label: str) -> str:
    return re.sub(r"\s+", " ", label).strip().casefold()


def label_forms(label: str) -> set[str]:
    """A sweep label and the label without a trailing "(remark)" or the part after " (" ."""
    forms = {normalise(label)}
    if " (" in label:
        forms.add(normalise(label.split(" (", 1)[0]))
    return forms


def test_normalise_and_remarks():
    assert "ours" in label_forms("Ours (gated residual)")
    assert "patchgan" not in label_forms("HM-PatchGAN")


def test_the_issue_names_are_all_expected():
    names = {"madf_pn", "madf_supervision", "madf_flops", "deepgin_components", "hifill_gates",
             "hifill_cra_resampling", "hifill_resolution", "aotgan_rates", "aotgan_components", "aotgan_fusion",
             "aotgan_disc", "aim_track1", "aim_track2"}
    assert names <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_expected_row_has_a_sweep_row(name):
    assert name in sweep_names(), f"sweeps/{name}.yaml is missing ({EXPECTED[name]['spec']})"
    sweep = load_sweep(name)
    exact = {row.label: normalise(row.label) for row in sweep.rows}
    loose = {row.label: label_forms(row.label) for row in sweep.rows}
    claimed: dict[str, str] = {}
    for expected in EXPECTED[name]["rows"]:
        wanted = {normalise(expected["label"]), *map(normalise, expected.get("aliases", []))}
        # An exact label wins; otherwise every row that matches without its "(remark)" counts (variants of one
        # paper row, e.g. DeepGIN with and without the challenge's test-time script).
        matches = [label for label, form in exact.items() if form in wanted] or \
                  [label for label, forms in loose.items() if forms & wanted]
        assert matches, (f"{sweep.path}: no row for {expected['label']!r} ({EXPECTED[name]['spec']}); "
                         f"rows: {list(exact)}")
        for label in matches:
            assert label not in claimed, f"{sweep.path}: row {label!r} matches {claimed[label]!r} and " \
                                         f"{expected['label']!r}"
            claimed[label] = expected["label"]
