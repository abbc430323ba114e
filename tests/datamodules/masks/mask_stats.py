"""Sampling and distribution-comparison helpers for the mask tests.

Thresholds (why they are what they are):
- Two-sample Kolmogorov-Smirnov, ``p > 0.001`` (spec ``masks.md`` section 9). At N = 200 per side the KS
  statistic of two samples of the *same* distribution exceeds 0.137 with probability 5 % and 0.195 with probability
  0.1 %, so the project target "KS statistic < 0.05" is only measurable at N >= ~3000 per side; the fast tests use
  the p-value, the slow tests (N = 2000) and ``bench``-style runs report the statistic itself.
- Mean difference ``<= 0.01 + 3 * SE(difference)``: the 0.01 target plus three standard errors of sampling noise.
"""

from __future__ import annotations

from functools import cache

import mask_oracles
import numpy as np
import torch
from scipy.stats import ks_2samp

from datamodules.masks import build_mask_generator


@cache
def oracle_ratios(name: str, n: int, height: int, width: int, seed: int = 1) -> np.ndarray:
    """Hole ratios of ``n`` oracle masks (cached for the session; read-only)."""
    out = mask_oracles.sample_ratios(mask_oracles.ROW_ORACLES[name], n, height, width, seed)
    out.setflags(write=False)
    return out


def ours_ratios(spec, n: int, height: int, width: int, seed: int = 0, batch: int = 64, device="cpu") -> np.ndarray:
    """Hole ratios of ``n`` masks of our generator ``spec`` (indices 0..n-1)."""
    gen = build_mask_generator(spec)
    out = []
    for b in range(0, n, batch):
        idx = torch.arange(b, min(n, b + batch))
        out.append(gen(idx, height, width, device=device, seed=seed).mean(dim=(1, 2, 3)).cpu().numpy())
    return np.concatenate(out)


def assert_same_distribution(ours: np.ndarray, ref: np.ndarray, label: str, p_min: float = 1e-3) -> None:
    """KS ``p > p_min`` and mean difference within ``0.01 + 3 SE``."""
    ks = ks_2samp(ours, ref)
    se = np.sqrt(ours.var(ddof=1) / len(ours) + ref.var(ddof=1) / len(ref))
    diff = abs(ours.mean() - ref.mean())
    msg = (f"{label}: ours mean {ours.mean():.4f} std {ours.std():.4f}, reference mean {ref.mean():.4f} "
           f"std {ref.std():.4f}, KS {ks.statistic:.3f} (p={ks.pvalue:.2g}), N={len(ours)}/{len(ref)}")
    assert ks.pvalue > p_min, msg
    assert diff <= 0.01 + 3 * se, msg


def assert_matches_table(ratios: np.ndarray, mean: float, std: float, hist=None, label: str = "",
                         table_n: int = 1000) -> None:
    """Spec section 9 test 1 against the official statistics (measured on ``table_n`` = 1000 masks).

    Mean within ``0.01 + 3 std / sqrt(N)`` (the spec's rule). Histogram bins within ``0.01 + 3 SE`` where SE is the
    binomial standard error of the difference of two bin frequencies (ours at N, the table at 1000). The spec's
    fixed 0.03 is about 1.4 SE at N = 1000 for the central bins, so it fails on sampling noise alone.
    """
    n = len(ratios)
    assert abs(ratios.mean() - mean) <= 0.01 + 3 * std / np.sqrt(n), (
        f"{label}: mean {ratios.mean():.4f} vs table {mean:.3f} (N={n})")
    if hist is not None:
        p = np.asarray(hist, dtype=np.float64)
        got = np.histogram(np.clip(ratios, 0, 1), bins=10, range=(0, 1))[0] / n
        pp = np.clip((p + got) / 2, 1e-3, 1)
        tol = 0.01 + 3 * np.sqrt(pp * (1 - pp) * (1 / n + 1 / table_n))
        assert np.all(np.abs(got - p) <= tol), f"{label}: histogram {np.round(got, 3)} vs table {hist} (N={n})"


def _h(s: str) -> list[float]:
    return [float(x) for x in s.split()]


# spec masks.md section 8: row -> (oracle name, size, our spec, mean, std, histogram)
REFERENCE = {
    "lama_train_abl04": ("lama_train_abl04_raw", 256, {"name": "lama_train"}, 0.355, 0.207,
                         _h(".099 .160 .208 .175 .111 .097 .070 .061 .016 .003")),
    "lama_thin_256": ("lama_thin_256", 256, {"name": "lama_thin", "preset": 256}, 0.242, 0.115,
                      _h(".146 .232 .271 .270 .081 0 0 0 0 0")),
    "lama_medium_256": ("lama_medium_256", 256, {"name": "lama_medium", "preset": 256}, 0.206, 0.124,
                        _h(".254 .195 .306 .197 .048 0 0 0 0 0")),
    "lama_thick_256": ("lama_thick_256", 256, {"name": "lama_thick", "preset": 256}, 0.261, 0.129,
                       _h(".138 .201 .245 .243 .173 0 0 0 0 0")),
    "lama_thin_512": ("lama_thin_512", 512, {"name": "lama_thin", "preset": 512}, 0.241, 0.117,
                      _h(".161 .217 .263 .278 .081 0 0 0 0 0")),
    "lama_medium_512": ("lama_medium_512", 512, {"name": "lama_medium", "preset": 512}, 0.247, 0.130,
                        _h(".182 .197 .215 .269 .137 0 0 0 0 0")),
    "lama_thick_512": ("lama_thick_512", 512, {"name": "lama_thick", "preset": 512}, 0.257, 0.136,
                       _h(".154 .222 .205 .235 .184 0 0 0 0 0")),
    "lama_thin_256_raw": ("lama_thin_256_raw", 256, {"name": "lama_thin", "preset": 256, "pipeline": "raw"},
                          0.297, 0.136, _h(".097 .199 .192 .227 .250 .035 0 0 0 0")),
    "lama_medium_256_raw": ("lama_medium_256_raw", 256, {"name": "lama_medium", "preset": 256, "pipeline": "raw"},
                            0.246, 0.135, _h(".229 .097 .271 .294 .101 .007 .001 0 0 0")),
    "lama_thick_256_raw": ("lama_thick_256_raw", 256, {"name": "lama_thick", "preset": 256, "pipeline": "raw"},
                           0.404, 0.218, _h(".081 .129 .152 .154 .139 .136 .097 .077 .030 .005")),
    "lama_thick_512_raw": ("lama_thick_512_raw", 512, {"name": "lama_thick", "preset": 512, "pipeline": "raw"},
                           0.461, 0.249, _h(".073 .118 .123 .120 .109 .107 .152 .105 .069 .024")),
    "deepfill_v2_box": ("deepfill_v2_box", 256, {"name": "deepfill_v2", "brush": False}, 0.190, 0.023,
                        _h("0 .676 .324 0 0 0 0 0 0 0")),
    "deepfill_v2_brush": ("deepfill_v2_brush", 256, {"name": "deepfill_v2", "box": False}, 0.148, 0.077,
                          _h(".314 .421 .235 .029 .001 0 0 0 0 0")),
    "deepfill_v2_brush_512": ("deepfill_v2_brush", 512, {"name": "deepfill_v2", "box": False}, 0.084, 0.047,
                              _h(".652 .334 .014 0 0 0 0 0 0 0")),
    "deepfill_v2": ("deepfill_v2", 256, {"name": "deepfill_v2"}, 0.311, 0.069,
                    _h("0 .035 .440 .410 .109 .006 0 0 0 0")),
    "mat_large_512": ("mat_large_512", 512, {"name": "mat_large", "preset": 512}, 0.396, 0.167,
                      _h(".035 .103 .162 .212 .231 .143 .070 .037 .007 0")),
    "mat_small_512": ("mat_small_512", 512, {"name": "mat_small", "preset": 512}, 0.222, 0.142,
                      _h(".192 .324 .230 .135 .071 .029 .016 .003 0 0")),
    "mat_large_256": ("mat_large_256", 256, {"name": "mat_large", "preset": 256}, 0.405, 0.180,
                      _h(".055 .101 .135 .174 .196 .200 .106 .030 .003 0")),
    "mat_small_256": ("mat_small_256", 256, {"name": "mat_small", "preset": 256}, 0.218, 0.150,
                      _h(".229 .286 .236 .128 .067 .031 .015 .008 0 0")),
    "comodgan": ("comodgan", 512, {"name": "comodgan"}, 0.644, 0.178,
                 _h(".008 .012 .025 .057 .095 .167 .205 .226 .163 .042")),
    "aim_box": ("aim_box", 256, {"name": "aim_box"}, 0.246, 0.081, _h(".005 .319 .430 .196 .050 0 0 0 0 0")),
    "aim_cellular_automata": ("aim_cellular_automata", 256, {"name": "aim_cellular_automata"}, 0.512, 0.068,
                              _h("0 0 .007 .049 .461 .375 .108 0 0 0")),
    "aim_free_form": ("aim_free_form", 256, {"name": "aim_free_form"}, 0.399, 0.063,
                      _h("0 0 .056 .462 .423 .059 0 0 0 0")),
    "aim_mixed": ("aim_mixed", 256, {"name": "aim_mixed"}, 0.384, 0.129, _h(".006 .103 .165 .249 .296 .149 .032 0 0 0")),
    "aim_box_512": ("aim_box", 512, {"name": "aim_box"}, 0.247, 0.081, _h(".005 .314 .434 .197 .050 0 0 0 0 0")),
    "aim_free_form_512": ("aim_free_form", 512, {"name": "aim_free_form"}, 0.137, 0.025,
                          _h(".063 .933 .004 0 0 0 0 0 0 0")),
    "aim_cellular_automata_512": ("aim_cellular_automata", 512, {"name": "aim_cellular_automata"}, 0.532, 0.054,
                                  _h("0 0 0 .002 .394 .459 .145 0 0 0")),
}
