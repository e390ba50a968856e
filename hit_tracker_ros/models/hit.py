"""HiT (Kang et al., ICCV 2023): LeViT backbone over search + template, Bridge Module (two
transposed-conv upsampling steps merging the stage features) and a corner head with soft-argmax.

Parameter names equal the authors' checkpoint keys (`backbone.body.*`, `bottleneck.*`,
`box_head.*`), so their `net` state dict loads with strict=True into `HiTNet`; `prepare_for_inference`
then folds BatchNorm into the backbone's linear/conv layers exactly as the authors do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import CornerHead
from .levit import LeViT, fold_batchnorm
from .specs import HIT_VARIANTS, HiTConfig


class Backbone(nn.Module):
    """Wrapper that gives the LeViT the checkpoint prefix `backbone.body`."""

    def __init__(self, body: LeViT) -> None:
        super().__init__()
        self.body = body


class BridgeModule(nn.Module):
    """The "FB" neck: upsample stage-3 features x2 twice, adding stage-2 then stage-1 features
    (search tokens only), then project search tokens and the global (mean) token to hidden_dim."""

    def __init__(self, dims: tuple[int, int, int], hidden_dim: int, search_side: int) -> None:
        super().__init__()
        self.search_side = search_side  # of the last stage
        self.layers = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, 2), nn.BatchNorm2d(cout))
            for cin, cout in ((dims[2], dims[1]), (dims[1], dims[0]))
        )
        self.proj1 = nn.Linear(dims[0], hidden_dim)
        self.proj2 = nn.Linear(dims[2], hidden_dim)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        """(1 + HW, B, hidden): global token then the upsampled search tokens."""
        s = self.search_side
        global_token = stages[2][:, 0:1, :].permute(1, 0, 2)
        maps = [
            _tokens_to_map(stages[0][:, : (4 * s) ** 2], 4 * s),
            _tokens_to_map(stages[1][:, : (2 * s) ** 2], 2 * s),
            _tokens_to_map(stages[2][:, 1 : 1 + s * s], s),
        ]
        x = maps[2]
        for i, layer in enumerate(self.layers):
            x = layer(x) + maps[1 - i]
            if i < len(self.layers) - 1:
                x = F.relu(x)
        x = self.proj1(x.flatten(2).permute(2, 0, 1))
        return torch.cat((self.proj2(global_token), x), dim=0)


def _tokens_to_map(tokens: torch.Tensor, side: int) -> torch.Tensor:
    b, _, c = tokens.shape
    return tokens.permute(0, 2, 1).reshape(b, c, side, side)


class HiTNet(nn.Module):
    """The whole network: forward(search, template) -> (pred_boxes, score_map_tl, score_map_br):
    pred_boxes (B, 1, 4) cx, cy, w, h in [0, 1] of the search crop; score maps (B, 1, 16, 16) are
    the corner logits before softmax."""

    def __init__(self, config: HiTConfig) -> None:
        super().__init__()
        self.config = config
        body = LeViT(config.backbone, config.search_size, config.template_size)
        self.backbone = Backbone(body)
        last_side = int(body.num_patches_search**0.5)
        self.feat_sz = last_side * 4  # two x2 upsamplings
        # Registration order = the checkpoint's key order: backbone, box_head, bottleneck.
        self.box_head = CornerHead(
            config.hidden_dim, config.head_channel, self.feat_sz, config.search_size // self.feat_sz
        )
        self.bottleneck = BridgeModule(config.backbone.dims, config.hidden_dim, last_side)

    def forward(
        self, search: torch.Tensor, template: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        stages = self.backbone.body(search, template)
        memory = self.bottleneck(stages)  # (1 + HW, B, C)
        query = memory[0:1].permute(1, 2, 0)  # (B, C, 1)
        search_feat = memory[-(self.feat_sz**2) :].transpose(0, 1)  # (B, HW, C)
        attention = torch.matmul(search_feat, query)  # (B, HW, 1)
        fused = (search_feat * attention).permute(0, 2, 1)  # (B, C, HW)
        fused = fused.reshape(-1, fused.shape[1], self.feat_sz, self.feat_sz)
        return self.box_head(fused)

    def prepare_for_inference(self) -> HiTNet:
        """Fold BatchNorm into the backbone's layers (the authors' replace_batchnorm, backbone only),
        gather the attention biases and switch to eval mode."""
        fold_batchnorm(self.backbone.body)
        for module in self.modules():
            if hasattr(module, "freeze_biases"):
                module.freeze_biases()
        return self.eval()


def build_hit(variant: str) -> HiTNet:
    """Unfused HiT network of `variant` (hit_base, hit_small, hit_tiny), random weights."""
    if variant not in HIT_VARIANTS:
        raise ValueError(f"unknown HiT variant '{variant}'; available: {', '.join(HIT_VARIANTS)}")
    return HiTNet(HIT_VARIANTS[variant])
