"""OSTrack-style one-stream ViT with a centre head, as CompressTracker's student runs it.

Parameter names equal the authors' checkpoint keys: `backbone.{cls_token, pos_embed, pos_embed_z,
pos_embed_x, patch_embed.proj, norm, distill_blocks.N.*}` and `box_head.conv{1..5}_{ctr,offset,size}`.
`cls_token` and the 224-px `pos_embed` are unused at inference but exist for strict loading.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import conv_bn_relu
from .specs import CompressTrackerConfig
from .vit_parts import LAYERNORM_EPS, PATCH, Attention, Mlp, PatchEmbed


class Block(nn.Module):
    """Pre-norm transformer block (timm ViT)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CompressViT(nn.Module):
    """Template and search tokens (learned position embeddings each), concatenated, N blocks, norm."""

    def __init__(self, c: CompressTrackerConfig) -> None:
        super().__init__()
        nz, nx = (c.template_size // PATCH) ** 2, (c.search_size // PATCH) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (224 // PATCH) ** 2 + 1, c.embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, nz, c.embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, nx, c.embed_dim))
        self.patch_embed = PatchEmbed(c.embed_dim)
        self.norm = nn.LayerNorm(c.embed_dim, eps=LAYERNORM_EPS)
        self.distill_blocks = nn.Sequential(
            *[Block(c.embed_dim, c.num_heads, c.mlp_ratio) for _ in range(c.depth)]
        )

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        z = self.patch_embed(template) + self.pos_embed_z
        x = self.patch_embed(search) + self.pos_embed_x
        return self.norm(self.distill_blocks(torch.cat((z, x), dim=1)))


class CenterHead(nn.Module):
    """Centre-ness, offset and size maps (OSTrack's CenterPredictor)."""

    def __init__(self, inplanes: int, channel: int, feat_sz: int) -> None:
        super().__init__()
        self.feat_sz = feat_sz
        widths = [inplanes, channel, channel // 2, channel // 4, channel // 8]
        for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
            for i in range(4):
                setattr(self, f"conv{i + 1}_{branch}", conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(channel // 8, out, kernel_size=1))

    def branch(self, x: torch.Tensor, name: str) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{name}")(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        score = torch.clamp(self.branch(x, "ctr").sigmoid(), min=1e-4, max=1 - 1e-4)
        size = torch.clamp(self.branch(x, "size").sigmoid(), min=1e-4, max=1 - 1e-4)
        return score, size, self.branch(x, "offset")

    def decode(self, score: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """(B, 4) cx, cy, w, h in [0, 1] at the peak of `score` (the authors' cal_bbox)."""
        idx = score.flatten(1).argmax(dim=1, keepdim=True)
        idx_y, idx_x = idx // self.feat_sz, idx % self.feat_sz
        gather = idx.unsqueeze(1).expand(idx.shape[0], 2, 1)
        wh = size.flatten(2).gather(dim=2, index=gather).squeeze(-1)
        off = offset.flatten(2).gather(dim=2, index=gather).squeeze(-1)
        cx = (idx_x.to(torch.float) + off[:, :1]) / self.feat_sz
        cy = (idx_y.to(torch.float) + off[:, 1:]) / self.feat_sz
        return torch.cat([cx, cy, wh], dim=1)


class CompressTrackerNet(nn.Module):
    """forward(template, search) -> (pred_boxes (B,1,4), score_map (B,1,16,16), size_map, offset_map)."""

    def __init__(self, c: CompressTrackerConfig) -> None:
        super().__init__()
        self.config = c
        self.backbone = CompressViT(c)
        self.box_head = CenterHead(c.embed_dim, c.head_channels, c.feat_sz)

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        tokens = self.backbone(template, search)
        n = self.config.feat_sz**2
        feat = (
            tokens[:, -n:]
            .transpose(1, 2)
            .reshape(-1, tokens.shape[-1], self.config.feat_sz, self.config.feat_sz)
        )
        score, size, offset = self.box_head(feat)
        boxes = self.box_head.decode(score, size, offset).view(-1, 1, 4)
        return boxes, score, size, offset


def build_compresstracker(variant: str) -> CompressTrackerNet:
    from .specs import COMPRESSTRACKER_VARIANTS

    if variant not in COMPRESSTRACKER_VARIANTS:
        raise ValueError(
            f"unknown CompressTracker variant '{variant}'; available: {', '.join(COMPRESSTRACKER_VARIANTS)}"
        )
    return CompressTrackerNet(COMPRESSTRACKER_VARIANTS[variant])
