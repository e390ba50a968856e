"""Plain-ViT building blocks shared by the ViT-B/16 families (MixFormerV2, CompressTracker)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAYERNORM_EPS = 1e-6
PATCH = 16


class PatchEmbed(nn.Module):
    """16x16 patches -> tokens (B, N, C) through one strided conv (`proj`)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """timm's Mlp: fc1, exact GELU, fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))
