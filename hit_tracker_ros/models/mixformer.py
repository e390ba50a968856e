"""MixFormerV2 (Cui et al., NeurIPS 2023) on plain PyTorch, with the authors' checkpoint keys
(`backbone.{pos_embed_s, pos_embed_t, reg_tokens, pos_embed_reg, patch_embed.proj, blocks.N.*}`,
`box_head.layers.*`, `score_head.layers.*`).

Mixed attention: the template tokens (template + online template) attend only to template tokens;
the search tokens and the 4 prediction tokens attend to everything. So the template half of every
block depends on the templates alone. `CachedTemplates` keeps its keys/values per block and
recomputes them only when a template changes. This is exact (same operations, same order) and saves
the template half of the network on every other frame.
"""

from __future__ import annotations

import torch
from torch import nn

from .specs import MixFormerV2Config
from .vit_parts import LAYERNORM_EPS, PATCH, Attention, Mlp, PatchEmbed


class MixedAttention(Attention):
    """Template tokens attend to template tokens only; search and prediction tokens to all."""

    def forward(self, x: torch.Tensor, n_template: int) -> torch.Tensor:
        q, k, v = self._qkv(x).unbind(0)
        x_t = self._attend(q[:, :, :n_template], k[:, :, :n_template], v[:, :, :n_template])
        x_s = self._attend(q[:, :, n_template:], k, v)
        return self.proj(torch.cat([x_t, x_s], dim=1))

    def template_only(self, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Template-token output and their keys/values (what the cache keeps)."""
        q, k, v = self._qkv(x_t).unbind(0)
        return self.proj(self._attend(q, k, v)), k, v

    def search_only(self, x_s: torch.Tensor, k_t: torch.Tensor, v_t: torch.Tensor) -> torch.Tensor:
        q, k, v = self._qkv(x_s).unbind(0)
        return self.proj(self._attend(q, torch.cat([k_t, k], dim=2), torch.cat([v_t, v], dim=2)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.attn = MixedAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, n_template: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), n_template)
        return x + self.mlp(self.norm2(x))

    def template_only(self, x_t: torch.Tensor):
        out, k, v = self.attn.template_only(self.norm1(x_t))
        x_t = x_t + out
        return x_t + self.mlp(self.norm2(x_t)), k, v

    def search_only(self, x_s: torch.Tensor, k_t: torch.Tensor, v_t: torch.Tensor) -> torch.Tensor:
        x_s = x_s + self.attn.search_only(self.norm1(x_s), k_t, v_t)
        return x_s + self.mlp(self.norm2(x_s))


class MixViT(nn.Module):
    def __init__(self, c: MixFormerV2Config) -> None:
        super().__init__()
        ns, nt = (c.search_size // PATCH) ** 2, (c.template_size // PATCH) ** 2
        self.pos_embed_s = nn.Parameter(torch.zeros(1, ns, c.embed_dim), requires_grad=False)
        self.pos_embed_t = nn.Parameter(torch.zeros(1, nt, c.embed_dim), requires_grad=False)
        self.reg_tokens = nn.Parameter(torch.zeros(1, 4, c.embed_dim))
        self.pos_embed_reg = nn.Parameter(torch.zeros(1, 4, c.embed_dim))
        self.patch_embed = PatchEmbed(c.embed_dim)
        self.blocks = nn.Sequential(*[Block(c.embed_dim, c.num_heads, c.mlp_ratio) for _ in range(c.depth)])

    def template_tokens(self, template: torch.Tensor, online_template: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.patch_embed(template) + self.pos_embed_t,
                          self.patch_embed(online_template) + self.pos_embed_t], dim=1)  # fmt: skip

    def search_tokens(self, search: torch.Tensor) -> torch.Tensor:
        reg = self.reg_tokens.expand(search.shape[0], -1, -1) + self.pos_embed_reg
        return torch.cat([self.patch_embed(search) + self.pos_embed_s, reg], dim=1)

    def forward(self, template, online_template, search) -> torch.Tensor:
        """The 4 prediction tokens after all blocks (the uncached path, as the authors run it)."""
        x_t = self.template_tokens(template, online_template)
        x = torch.cat([x_t, self.search_tokens(search)], dim=1)
        for blk in self.blocks:
            x = blk(x, x_t.shape[1])
        return x[:, -4:]


class DistributionHead(nn.Module):
    """Shared MLP over the 4 tokens (left, right, top, bottom) -> 96-bin distributions."""

    def __init__(self, dim: int, bins: int, search_size: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.ReLU()),
            nn.Sequential(nn.Linear(dim, bins), nn.LayerNorm(bins)),
        )
        self.stride = search_size / bins
        self.img_sz = bins * self.stride
        self.register_buffer("indice", torch.arange(0, bins).unsqueeze(0) * self.stride, persistent=False)

    def forward(self, tokens: torch.Tensor):
        probs = [self.layers(t).softmax(dim=-1) for t in tokens.unbind(dim=1)]  # l, r, t, b
        left, right, top, bottom = (torch.sum(self.indice * p, dim=-1) for p in probs)
        xyxy = torch.stack((left, top, right, bottom), dim=1) / self.img_sz
        cxcywh = torch.stack(((xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                              xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]), dim=-1)  # fmt: skip
        return cxcywh, probs[0], probs[2], probs[1], probs[3]  # prob_l, prob_t, prob_r, prob_b


class ScoreHead(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, dim), nn.ReLU()), nn.Linear(dim, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.layers(tokens).mean(dim=1).view(-1)


class MixFormerV2Net(nn.Module):
    """forward(template, online_template, search) -> (pred_boxes (B,1,4) cx,cy,w,h, pred_scores
    (B,) logits, prob_l, prob_t, prob_r, prob_b (B, 96))."""

    def __init__(self, c: MixFormerV2Config) -> None:
        super().__init__()
        self.config = c
        self.backbone = MixViT(c)
        self.box_head = DistributionHead(c.embed_dim, c.bins, c.search_size)
        self.score_head = ScoreHead(c.embed_dim)

    def heads(self, tokens: torch.Tensor):
        boxes, pl, pt, pr, pb = self.box_head(tokens)
        return boxes.view(-1, 1, 4), self.score_head(tokens), pl, pt, pr, pb

    def forward(self, template, online_template, search):
        return self.heads(self.backbone(template, online_template, search))


class CachedTemplates(nn.Module):
    """The same network with the templates' per-block keys/values cached (torch backend). It
    follows backends.torch_graphs.TemplateCached, so CUDA graphs keep the cache on the device."""

    template_inputs = ("template", "online_template")

    def __init__(self, net: MixFormerV2Net) -> None:
        super().__init__()
        self.net = net
        self._key: tuple[torch.Tensor, torch.Tensor] | None = None
        self._kv: tuple[torch.Tensor, ...] = ()
        self.template_passes = 0  # how often the template half ran (for tests/benchmarks)

    def encode_templates(
        self, template: torch.Tensor, online_template: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Each block's template keys and values, flat: (k0, v0, k1, v1, ...)."""
        x_t = self.net.backbone.template_tokens(template, online_template)
        kv: list[torch.Tensor] = []
        for blk in self.net.backbone.blocks:
            x_t, k, v = blk.template_only(x_t)
            kv += [k, v]
        return tuple(kv)

    def track(self, kv: tuple[torch.Tensor, ...], search: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.net.backbone.search_tokens(search)
        for i, blk in enumerate(self.net.backbone.blocks):
            x = blk.search_only(x, kv[2 * i], kv[2 * i + 1])
        return self.net.heads(x[:, -4:])

    def forward(self, template, online_template, search):
        key = self._key
        if key is None or not (torch.equal(key[0], template) and torch.equal(key[1], online_template)):
            with torch.no_grad():
                self._kv = self.encode_templates(template, online_template)
            self._key = (template.clone(), online_template.clone())
            self.template_passes += 1
        return self.track(self._kv, search)


def build_mixformerv2(variant: str) -> MixFormerV2Net:
    from .specs import MIXFORMERV2_VARIANTS

    if variant not in MIXFORMERV2_VARIANTS:
        raise ValueError(
            f"unknown MixFormerV2 variant '{variant}'; available: {', '.join(MIXFORMERV2_VARIANTS)}"
        )
    return MixFormerV2Net(MIXFORMERV2_VARIANTS[variant])
