"""FID / KID / P-IDS / U-IDS: the Inception feature wrapper, the resize rules and the statistics.

Feature extraction (``InceptionFeatures``) owns quantisation, resizing to 299 and value scaling (evaluation spec
§1.2), so it can be passed to torchmetrics' ``FrechetInceptionDistance(feature=...)``. The evaluator extracts
features once per image and feeds them to per-group FID states through :class:`FeatureIdentity`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .pretrained import pretrained_fid_inception

__all__ = [
    "RESIZE_RULES",
    "resize_tf1",
    "resize_to_299",
    "InceptionFeatures",
    "FeatureIdentity",
    "TorchFidelityInception",
    "build_feature_extractor",
    "frechet_distance",
    "frechet_distance_scipy",
    "gaussian_stats",
    "kid_from_features",
    "linear_svm_fit",
    "ids_from_features",
]

RESIZE_RULES = ("tf1", "torch_bilinear", "torch_bilinear_aa", "pil_bicubic")
INCEPTION_SIZE = 299


# ----------------------------------------------------------------------------------------------------------- resize
def _tf1_axis(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # TF1 resize_bilinear (align_corners=False, no half-pixel centres): src = dst * in / out.
    src = torch.arange(n_out, dtype=torch.float64, device=device) * (n_in / n_out)
    lo = torch.floor(src).long().clamp_(max=n_in - 1)
    hi = (lo + 1).clamp_(max=n_in - 1)
    return lo, hi, (src - lo.double()).float()


def resize_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize as TF1 ``resize_bilinear``: no half-pixel centres, no antialias. ``x`` ``(N, C, H, W)`` float."""
    h_out, w_out = size
    lo, hi, f = _tf1_axis(x.shape[-2], h_out, x.device)
    f = f.view(-1, 1)
    x = x[..., lo, :] * (1 - f) + x[..., hi, :] * f
    lo, hi, f = _tf1_axis(x.shape[-1], w_out, x.device)
    return x[..., lo] * (1 - f) + x[..., hi] * f


def _resize_pil_bicubic(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # clean-fid "clean" mode: PIL bicubic on float32 ('F') channels, clipped, not re-quantised.

    arr = x.detach().cpu().float().numpy()
    out = np.empty((*arr.shape[:2], *size), dtype=np.float32)
    for n in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            img = Image.fromarray(arr[n, c], mode="F").resize((size[1], size[0]), resample=Image.BICUBIC)
            out[n, c] = np.asarray(img)
    return torch.from_numpy(np.clip(out, 0, 255)).to(x.device)


def resize_to_299(x: torch.Tensor, rule: str) -> torch.Tensor:
    """Resize ``(N, 3, H, W)`` float pixels in 0..255 to 299x299 by ``rule`` (identity if already 299x299)."""
    if rule not in RESIZE_RULES:
        raise ValueError(f"unknown resize rule {rule!r}; expected one of {RESIZE_RULES}")
    size = (INCEPTION_SIZE, INCEPTION_SIZE)
    if tuple(x.shape[-2:]) == size:
        return x
    if rule == "tf1":
        return resize_tf1(x, size)
    if rule == "torch_bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if rule == "torch_bilinear_aa":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return _resize_pil_bicubic(x, size)


# -------------------------------------------------------------------------------------------------- feature modules
class InceptionFeatures(nn.Module):
    """Image batch -> 2048-d pool3 features, owning quantisation, resize and scaling (torchmetrics ``feature=``).

    Args:
        net: the trunk, ``(N, 3, 299, 299)`` scaled input -> ``(N, D)`` (default: the FID Inception-v3 with
            ``weights``). Any module works (tests use tiny stand-ins); ``num_features`` is read from it if present.
        weights: for the default net: ``"pytorch-fid"``, ``"torch-fidelity"``, ``"random"`` or a file path.
        resize: one of :data:`RESIZE_RULES` (``tf1`` = TF/torch-fidelity; ``torch_bilinear`` = pytorch-fid, whose
            scaling ``2x - 1`` on [0, 1] is tied to it).

    ``forward(x)``: ``x`` uint8 ``(N, 3, H, W)`` 0..255, or float in [0, 1] (converted with ``round(x * 255)``).
    Returns float32 ``(N, D)``. Runs in float32 without autocast.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        *,
        weights: str = "pytorch-fid",
        resize: str = "tf1",
        weights_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if resize not in RESIZE_RULES:
            raise ValueError(f"unknown resize rule {resize!r}; expected one of {RESIZE_RULES}")
        if net is None:
            net = pretrained_fid_inception(weights, weights_dir=weights_dir)
            self.weights = str(weights)
        else:
            self.weights = f"custom:{type(net).__name__}"
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.resize = resize
        self.num_features = int(getattr(net, "num_features", 2048))

    def train(self, mode: bool = True) -> InceptionFeatures:
        # The metric network stays in eval mode (BatchNorm running statistics).
        super().train(mode)
        self.net.eval()
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            pixels = x.float()
        else:
            pixels = torch.round(x.float() * 255.0).clamp_(0, 255)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if self.resize == "torch_bilinear":
                z = resize_to_299(pixels / 255.0, self.resize) * 2.0 - 1.0
            else:
                z = (resize_to_299(pixels, self.resize) - 128.0) / 128.0
            return self.net(z.float()).float()


class FeatureIdentity(nn.Module):
    """``(N, D)`` features in, the same out (as float64): lets torchmetrics' FID run on precomputed features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).double()


class TorchFidelityInception(nn.Module):
    """Reference backend: torch-fidelity's ``inception-v3-compat`` 2048-d features (needs torchvision).

    Same input convention as :class:`InceptionFeatures` (uint8 or [0, 1] float).
    """

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        try:
            # lazy: torch-fidelity is optional (the `reference` extra)
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except Exception as exc:  # ImportError or the torchvision operator error
            raise RuntimeError(
                f"--fid-backend torch-fidelity needs the torch-fidelity package (and a working torchvision): {exc}"
            ) from exc
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=weights_path
        ).eval()
        self.num_features = 2048
        self.resize = "tf1"
        self.weights = "torch-fidelity"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            x = torch.round(x.float() * 255.0).clamp_(0, 255).to(torch.uint8)
        (features,) = self.net(x)
        return features.float()


def build_feature_extractor(
    backend: str = "ours",
    *,
    weights: str = "pytorch-fid",
    resize: str = "tf1",
    weights_dir: str | os.PathLike | None = None,
) -> nn.Module:
    """``"ours"`` (in-tree FID Inception) or ``"torch-fidelity"`` (reference, where it imports)."""
    if backend == "ours":
        return InceptionFeatures(weights=weights, resize=resize, weights_dir=weights_dir)
    if backend == "torch-fidelity":
        if resize != "tf1":
            raise ValueError("the torch-fidelity backend always resizes with the tf1 rule")
        path = weights if weights not in ("pytorch-fid", "torch-fidelity", "random") else None
        return TorchFidelityInception(weights_path=path)
    raise ValueError(f"unknown FID backend {backend!r}; expected 'ours' or 'torch-fidelity'")


# --------------------------------------------------------------------------------------------------- FID statistics
def gaussian_stats(features: torch.Tensor, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of ``(N, D)`` features in float64 (N-1 normalisation by default)."""
    f = features.double()
    n = f.shape[0]
    if n < 2:
        raise ValueError(f"FID needs at least 2 images per side, got {n}")
    mu = f.mean(0)
    centred = f - mu
    cov = centred.T @ centred / (n - 1 if unbiased else n)
    return mu, cov


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^½, the trace from the eigenvalues of Σ1Σ2 (float64)."""
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    eig = torch.linalg.eigvals(s1 @ s2)
    tr_sqrt = torch.sqrt(eig).real.sum()
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt)


def frechet_distance_scipy(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The pytorch-fid formula with ``scipy.linalg.sqrtm`` (cross-check; NumPy arrays or tensors)."""
    # lazy: scipy.linalg costs ~0.15 s at every evaluator build, for this cross-check only
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    def sqrtm(m: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # "singular matrix" warnings; non-finite results are handled below
            warnings.simplefilter("ignore")
            out = linalg.sqrtm(m)
        return out[0] if isinstance(out, tuple) else out

    covmean = sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# --------------------------------------------------------------------------------------------------------------- KID
def _poly_kernel(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef: float) -> torch.Tensor:
    return (x @ y.T * gamma + coef) ** degree


def kid_from_features(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 2020,
) -> dict[str, Any]:
    """Kernel Inception Distance (unbiased MMD² with a polynomial kernel; spec §2), float64.

    Subsets are drawn as torch-fidelity draws them: one ``numpy.random.RandomState(seed)``, and per subset
    ``choice(n_real, subset_size, replace=False)`` then ``choice(n_fake, subset_size, replace=False)``, so with the
    same features and seed both give the same value. Like torch-fidelity, a ``subset_size`` larger than either set is
    refused (ValueError) rather than shrunk: a smaller subset changes what is estimated.
    Returns ``{"mean", "std" (population, over subsets), "subset_size", "subsets", "seed"}``.
    """
    real, fake = real.double().cpu(), fake.double().cpu()
    n_real, n_fake, m = real.shape[0], fake.shape[0], int(subset_size)
    if m < 2:
        raise ValueError(f"KID needs a subset size of at least 2, got {m}")
    if m > n_real or m > n_fake:
        raise ValueError(f"KID subset size {m} is larger than the number of images ({n_real} real, {n_fake} fake); "
                         "pass a subset size of at most that (torch-fidelity refuses it too)")
    gamma = 1.0 / real.shape[1] if gamma is None else gamma
    rng = np.random.RandomState(seed)
    values = torch.empty(subsets, dtype=torch.float64)
    for s in range(subsets):
        x = real[torch.from_numpy(rng.choice(n_real, m, replace=False))]
        y = fake[torch.from_numpy(rng.choice(n_fake, m, replace=False))]
        k_xx = _poly_kernel(x, x, degree, gamma, coef)
        k_yy = _poly_kernel(y, y, degree, gamma, coef)
        k_xy = _poly_kernel(x, y, degree, gamma, coef)
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
        values[s] = within - 2 * k_xy.sum() / (m * m)  # the cross term keeps its diagonal
    return {
        "mean": float(values.mean()),
        "std": float(values.std(unbiased=False)),
        "subset_size": m,
        "subsets": subsets,
        "seed": seed,
    }


# ------------------------------------------------------------------------------------------------ P-IDS and U-IDS
def linear_svm_fit(
    x: torch.Tensor, y: torch.Tensor, *, C: float = 1.0, tol: float = 1e-4, max_iter: int = 100
) -> tuple[torch.Tensor, float, dict[str, Any]]:
    """Primal L2-regularised squared-hinge linear SVM, as ``LinearSVC(dual=False)`` (liblinear, solver 2).

    Minimises ``½‖w̃‖² + C Σ max(0, 1 − yᵢ w̃ᵀx̃ᵢ)²`` with ``x̃ = [x, 1]`` (intercept_scaling 1, so the bias is
    regularised like liblinear does), by generalised Newton steps with backtracking line search (the objective is
    convex and piecewise quadratic). ``x`` ``(N, D)``, ``y`` ``(N,)`` in {-1, +1}. Float64.
    Returns ``(w (D,), b, info)`` with ``info = {"iterations", "converged", "grad_norm"}``.
    """
    x = torch.cat([x.double(), torch.ones(x.shape[0], 1, dtype=torch.float64, device=x.device)], 1)
    y = y.double()
    w = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)

    def objective(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        margin = 1 - y * (x @ w)
        active = margin > 0
        loss = 0.5 * w @ w + C * (margin[active] ** 2).sum()
        grad = w - 2 * C * (x[active] * (y[active] * margin[active]).unsqueeze(1)).sum(0)
        return loss, grad, active

    loss, grad, active = objective(w)
    g0 = float(grad.norm())
    converged, iterations = False, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        xa = x[active]
        hessian = torch.eye(x.shape[1], dtype=torch.float64, device=x.device) + 2 * C * xa.T @ xa
        step = torch.linalg.solve(hessian, -grad)
        t = 1.0
        while True:  # Armijo backtracking
            new_loss, new_grad, new_active = objective(w + t * step)
            if new_loss <= loss + 0.01 * t * (grad @ step) or t < 1e-10:
                break
            t *= 0.5
        w, loss, grad, active = w + t * step, new_loss, new_grad, new_active
        if float(grad.norm()) <= tol * max(g0, 1e-12):
            converged = True
            break
    if not converged:
        warnings.warn(f"linear SVM did not converge in {max_iter} Newton steps", RuntimeWarning, stacklevel=2)
    return w[:-1], float(w[-1]), {"iterations": iterations, "converged": converged, "grad_norm": float(grad.norm())}


def ids_from_features(real: torch.Tensor, fake: torch.Tensor, *, solver: str = "auto") -> dict[str, Any]:
    """P-IDS and U-IDS (CoModGAN/MAT, spec §3) from index-paired ``(N, D)`` real/fake features.

    A linear SVM (real = 1, fake = 0) is fit on all features; U-IDS = its training misclassification rate;
    P-IDS = fraction of pairs with ``d(fake_i) > d(real_i)``. ``solver``: ``"sklearn"`` (``LinearSVC(dual=False)``),
    ``"newton"`` (:func:`linear_svm_fit`) or ``"auto"`` (sklearn if importable). Values in [0, 1].
    """
    if real.shape != fake.shape:
        raise ValueError(f"P-IDS needs index-paired sets of equal size, got {tuple(real.shape)} / {tuple(fake.shape)}")
    n = real.shape[0]
    if n < 2:
        raise ValueError(f"P-IDS/U-IDS need at least 2 image pairs, got {n}")
    if n < 2000:
        warnings.warn(f"P-IDS/U-IDS on {n} pairs (< 2,000): the classes become separable and both scores collapse "
                      "towards 0", RuntimeWarning, stacklevel=2)
    used = solver
    if solver == "auto":
        try:
            # lazy: scikit-learn is optional (not a dependency)
            import sklearn.svm  # noqa: F401

            used = "sklearn"
        except ImportError:
            used = "newton"
    if used == "sklearn":
        from sklearn.svm import LinearSVC

        feats = torch.cat([real, fake]).double().cpu().numpy()
        labels = np.concatenate([np.ones(n), np.zeros(n)])
        svm = LinearSVC(dual=False).fit(feats, labels)
        d_real = torch.from_numpy(svm.decision_function(feats[:n]))
        d_fake = torch.from_numpy(svm.decision_function(feats[n:]))
        info: dict[str, Any] = {"solver": "sklearn LinearSVC(dual=False)"}
    elif used == "newton":
        feats = torch.cat([real, fake]).double()
        labels = torch.cat([torch.ones(n), -torch.ones(n)]).to(feats.device)
        w, b, info = linear_svm_fit(feats, labels)
        info = {"solver": "in-tree primal Newton (LinearSVC(dual=False) objective)", **info}
        d_real, d_fake = real.double() @ w + b, fake.double() @ w + b
    else:
        raise ValueError(f"unknown SVM solver {solver!r}")
    accuracy = (float((d_real > 0).sum()) + float((d_fake <= 0).sum())) / (2 * n)
    return {"pids": float((d_fake > d_real).double().mean()), "uids": 1.0 - accuracy, "n": n, **info}
