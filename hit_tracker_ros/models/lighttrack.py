"""LightTrack-Mobile backbone (Yan et al., CVPR 2021) as E.T.Track uses it, on plain PyTorch,
with the authors' checkpoint keys (`conv_stem`, `bn1`, `blocks.S.B.*`).

It is the searched child network `back_04502514044521042540` of the authors' supernet, cut after
stage 4 block 2 (`ops_32`): EfficientNet-style blocks with Swish activations and
squeeze-and-excitation (ReLU, hard-sigmoid gate, reduction from the expanded width).
Output stride 16: a 127 px template gives 8 x 8 features, a 256 px search 16 x 16, 96 channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STEM_CHANNELS = 16
SE_RATIO = 0.25
# (stride of the first block, output channels, (depthwise kernel, expansion ratio) per block);
# stage 0 is the depthwise-separable block (no expansion).
STAGES: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...] = (
    (1, 16, ((3, 1),)),
    (2, 24, ((7, 4), (7, 6))),
    (2, 40, ((3, 4), (5, 4), (7, 6), (3, 6))),
    (2, 80, ((7, 4), (3, 4), (7, 4), (7, 4))),
    (1, 96, ((7, 6), (5, 4), (3, 6))),
)
OUT_CHANNELS = STAGES[-1][1]


def make_divisible(value: float, divisor: int = 8) -> int:
    """timm's channel rounding: nearest multiple of `divisor`, never below 90 % of `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    """x * gate(expand(act(reduce(mean(x))))); the backbone gates with a hard sigmoid, the
    Exemplar Transformer with a sigmoid."""

    def __init__(self, channels: int, reduced: int, gate=hard_sigmoid) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(F.relu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * self.gate(s)


def _depthwise(channels: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, stride, kernel // 2, groups=channels, bias=False)


class DepthwiseSeparable(nn.Module):
    """conv_dw, BN, Swish, SE, conv_pw, BN (+ input when the shape is kept)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = _depthwise(cin, kernel, stride)
        self.bn1 = nn.BatchNorm2d(cin)
        self.se = SqueezeExcite(cin, make_divisible(cin * SE_RATIO))
        self.conv_pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.se(F.silu(self.bn1(self.conv_dw(x))))))
        return y + x if self.residual else y


class InvertedResidual(nn.Module):
    """conv_pw (expand), BN, Swish, conv_dw, BN, Swish, SE, conv_pwl, BN (+ input when kept)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = make_divisible(cin * expansion)
        self.conv_pw = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv_dw = _depthwise(mid, kernel, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid, make_divisible(mid * SE_RATIO))
        self.conv_pwl = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.bn1(self.conv_pw(x)))
        y = self.se(F.silu(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.residual else y


class LightTrackBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        cin, stages = STEM_CHANNELS, []
        for index, (stride, cout, blocks) in enumerate(STAGES):
            layers = []
            for b, (kernel, expansion) in enumerate(blocks):
                s = stride if b == 0 else 1  # only a stage's first block strides
                if index == 0:
                    layers.append(DepthwiseSeparable(cin, cout, kernel, s))
                else:
                    layers.append(InvertedResidual(cin, cout, kernel, s, expansion))
                cin = cout
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.silu(self.bn1(self.conv_stem(x))))
