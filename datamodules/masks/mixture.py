"""Weighted mixture of generators: one component per sample, chosen from the sample's own stream.

``mask_type`` of a sample is the name of the component that drew it (``last_types`` / :meth:`sample_types`);
a component that is itself a mixture reports its own component's name.
"""

from __future__ import annotations

import torch

from .base import MaskGenerator, as_index_list
from .rng import salt_of, sample_seed


class MixtureMaskGenerator(MaskGenerator):
    """Args: components: list of ``(generator, weight)``; weights are renormalised (zero weights allowed).
    ``labels``: optional ``mask_type`` per component (default: the component's name)."""

    def __init__(self, components, name: str = "mixture", labels: list[str] | None = None):
        super().__init__()
        comps = list(components)
        if not comps:
            raise ValueError("mixture: needs at least one component")
        weights = [float(w) for _, w in comps]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"mixture: weights must be >= 0 with a positive sum, got {weights}")
        self.name = name
        self.generators = [g for g, _ in comps]
        self.weights = [w / sum(weights) for w in weights]
        self.labels = list(labels) if labels is not None else [g.name for g in self.generators]
        if len(self.labels) != len(self.generators):
            raise ValueError("mixture: labels must have one entry per component")

    def params(self) -> dict:
        return {
            "components": [
                {"generator": {"name": g.name, **g.params()}, "weight": w, "label": lab}
                for g, w, lab in zip(self.generators, self.weights, self.labels)
            ]
        }

    def choose(self, indices, seed: int) -> list[int]:
        """Component index of each sample (a pure function of ``(seed, index)``)."""
        out = []
        for i in as_index_list(indices):
            rng = self.rng(seed, i, "choice")
            out.append(rng.choice(self.weights))
        return out

    def _child_seed(self, seed: int, k: int) -> int:
        return sample_seed(seed, k, salt_of(self.name + "/component")) & ((1 << 62) - 1)

    def sample_types(self, indices, seed: int) -> list[str]:
        idx = as_index_list(indices)
        choice = self.choose(idx, seed)
        out = [""] * len(idx)
        for k, gen in enumerate(self.generators):
            pos = [j for j, c in enumerate(choice) if c == k]
            if not pos:
                continue
            if isinstance(gen, MixtureMaskGenerator):
                sub = gen.sample_types([idx[j] for j in pos], self._child_seed(seed, k))
            else:
                sub = [self.labels[k]] * len(pos)
            for j, t in zip(pos, sub):
                out[j] = t
        return out

    def generate(self, indices, height, width, device, seed) -> torch.Tensor:
        choice = self.choose(indices, seed)
        out = torch.zeros(len(indices), 1, height, width, device=device)
        for k, gen in enumerate(self.generators):
            pos = [j for j, c in enumerate(choice) if c == k]
            if pos:
                sub_idx = torch.as_tensor([indices[j] for j in pos])
                out[torch.as_tensor(pos, device=device)] = gen(
                    sub_idx, height, width, device=device, seed=self._child_seed(seed, k)
                )
        return out
