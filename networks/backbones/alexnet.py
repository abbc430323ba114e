"""AlexNet with torchvision-compatible state-dict keys (``features.{0,3,6,8,10}``, ``classifier.{1,4,6}``).

Used as the LPIPS-Alex backbone (taps after ``features`` indices 1, 4, 7, 9, 11 = relu1..relu5).
Input: ``(B, 3, H, W)`` as the caller's weights expect (LPIPS applies its own scaling layer first).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .vgg import _drop_classifier_keys

__all__ = ["AlexNet", "alexnet", "ALEXNET_LPIPS_TAPS"]

ALEXNET_LPIPS_TAPS = (1, 4, 7, 9, 11)


class AlexNet(nn.Module):
    """torchvision's AlexNet ("one weird trick" variant: 64/192/384/256/256 channels).

    ``forward(x)`` returns the last ``features`` map ``(B, 256, h, w)``, or ``(B, 1000)`` logits when built
    ``with_classifier=True``. Without the classifier, ``classifier.*`` keys are dropped on load.
    """

    def __init__(self, with_classifier: bool = False) -> None:
        super().__init__()
        self.with_classifier = with_classifier
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        if with_classifier:
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(),
                nn.Linear(256 * 6 * 6, 4096),
                nn.ReLU(inplace=False),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=False),
                nn.Linear(4096, 1000),
            )
        else:
            self._register_load_state_dict_pre_hook(_drop_classifier_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if not self.with_classifier:
            return x
        return self.classifier(torch.flatten(self.avgpool(x), 1))

    def forward_taps(self, x: torch.Tensor, taps: Iterable[int]) -> list[torch.Tensor]:
        """Outputs of ``features`` after the given indices, in the order given."""
        indices = list(taps)
        if not indices:
            return []
        wanted, found = set(indices), {}
        for i, layer in enumerate(self.features[: max(indices) + 1]):
            x = layer(x)
            if i in wanted:
                found[i] = x
        return [found[i] for i in indices]


def alexnet(with_classifier: bool = False) -> AlexNet:
    """Randomly initialised AlexNet (no I/O)."""
    return AlexNet(with_classifier=with_classifier)
