"""Built-in models that need no download: a small CNN, an MLP and a tiny transformer encoder.

Why they exist: CI and CPU-only machines must run the whole calibration pipeline (timing, records, resume,
the calibration file) with nothing but torch installed. They are real networks with random weights, so their
latency grows with batch size the way a served model's does; they are not stand-ins for any published model.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Four conv blocks and a linear head, for 3 x H x W images (ResNet-like shape, a fraction of the work)."""

    def __init__(self, num_classes: int = 1000, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(4):
            out = width * (2 ** i)
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


class MLP(nn.Module):
    """Three hidden layers on flat feature vectors (a recommendation/tabular-style model)."""

    def __init__(self, in_features: int = 1024, hidden: int = 2048, out_features: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TinyEncoder(nn.Module):
    """A 2-layer transformer encoder over token ids (a BERT-shaped model small enough for a CPU)."""

    def __init__(self, vocab: int = 8192, d_model: int = 256, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids))[:, 0])
