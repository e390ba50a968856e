"""Layers shared by several networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU: one stage of the STARK-lineage box heads (HiT's corner
    head, OSTrack's centre head); the checkpoint keys are `<name>.0.*` and `<name>.1.*`."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CornerHead(nn.Module):
    """Two conv towers giving top-left / bottom-right heat-maps; soft-argmax gives the corners
    (STARK's corner predictor, used by HiT and AsymTrack). Coordinates are cell indices x stride
    (the cell's top-left, not its centre), as the authors compute them."""

    coord_x: torch.Tensor
    coord_y: torch.Tensor

    def __init__(self, inplanes: int, channel: int, feat_sz: int, stride: int) -> None:
        super().__init__()
        self.feat_sz, self.img_sz = feat_sz, feat_sz * stride
        for corner in ("tl", "br"):
            widths = [inplanes, channel, channel // 2, channel // 4, channel // 8]
            for i in range(4):
                setattr(self, f"conv{i + 1}_{corner}", conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{corner}", nn.Conv2d(channel // 8, 1, kernel_size=1))
        # Grids the authors build on the fly: not part of the state dict.
        index = torch.arange(feat_sz, dtype=torch.float32) * stride
        self.register_buffer("coord_x", index.repeat(feat_sz), persistent=False)
        self.register_buffer("coord_y", index.repeat_interleave(feat_sz), persistent=False)

    def score_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = []
        for corner in ("tl", "br"):
            y = x
            for i in range(1, 6):
                y = getattr(self, f"conv{i}_{corner}")(y)
            maps.append(y)
        return maps[0], maps[1]

    def soft_argmax(self, score_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = F.softmax(score_map.view(-1, self.feat_sz * self.feat_sz), dim=1)
        return (self.coord_x * prob).sum(dim=1), (self.coord_y * prob).sum(dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pred_boxes (B, 1, 4) cx, cy, w, h in [0, 1] of the search crop, top-left and
        bottom-right logits (B, 1, F, F) before softmax)."""
        tl, br = self.score_maps(x)
        x1, y1 = self.soft_argmax(tl)
        x2, y2 = self.soft_argmax(br)
        xyxy = torch.stack((x1, y1, x2, y2), dim=1) / self.img_sz
        cxcywh = torch.stack(
            (
                (xyxy[:, 0] + xyxy[:, 2]) / 2,
                (xyxy[:, 1] + xyxy[:, 3]) / 2,
                xyxy[:, 2] - xyxy[:, 0],
                xyxy[:, 3] - xyxy[:, 1],
            ),
            dim=1,
        )
        return cxcywh.view(-1, 1, 4), tl, br
