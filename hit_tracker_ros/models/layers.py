"""Layers shared by several networks."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU: one stage of the STARK-lineage box heads (HiT's corner
    head, OSTrack's centre head); the checkpoint keys are `<name>.0.*` and `<name>.1.*`."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
