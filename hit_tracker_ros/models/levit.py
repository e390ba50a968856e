"""LeViT backbone for two images (search + template), as HiT uses it.

Module and parameter names follow the authors' checkpoints (`backbone.body.*`): Conv2d_BN /
Linear_BN pairs named `c` and `bn`, residual blocks holding their branch in `m`, attention
biases indexed by a persistent `attention_bias_idxs` buffer. `fold_batchnorm` turns the
Conv+BN / Linear+BN pairs into single layers for inference, as the authors do before running.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .specs import LeViTSpec

ATTN_RATIO = 2  # value width / key width inside a stage
MLP_RATIO = 2
SUBSAMPLE_ATTN_RATIO = 4
SUBSAMPLE_STRIDE = 2
PATCH = 16


class Conv2dBN(nn.Sequential):
    """Bias-free conv followed by BatchNorm (`c`, `bn`)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, pad, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        conv, bn = self.c, self.bn
        scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
        out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
        out.weight.copy_(conv.weight * scale[:, None, None, None])
        out.bias.copy_(bn.bias - bn.running_mean * scale)
        return out


class LinearBN(nn.Sequential):
    """Bias-free linear layer followed by BatchNorm1d over all tokens (`c`, `bn`)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.add_module("c", nn.Linear(cin, cout, bias=False))
        self.add_module("bn", nn.BatchNorm1d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c(x)
        return self.bn(y.flatten(0, 1)).reshape_as(y)

    @torch.no_grad()
    def fused(self) -> nn.Linear:
        lin, bn = self.c, self.bn
        scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
        out = nn.Linear(lin.in_features, lin.out_features)
        out.weight.copy_(lin.weight * scale[:, None])
        out.bias.copy_(bn.bias - bn.running_mean * scale)
        return out


def fold_batchnorm(module: nn.Module) -> None:
    """Replace every Conv2dBN / LinearBN below `module` by its folded layer (in place)."""
    for name, child in module.named_children():
        if isinstance(child, (Conv2dBN, LinearBN)):
            setattr(module, name, child.fused())
        else:
            fold_batchnorm(child)


def token_grid(search_side: int, template_side: int) -> list[tuple[int, int]]:
    """Grid positions of the search tokens, then the template tokens placed diagonally after
    the search grid (the authors' "dual-image" position layout)."""
    points = list(itertools.product(range(search_side), range(search_side)))
    t = range(search_side, search_side + template_side)
    return points + list(itertools.product(t, t))


def bias_indices(
    queries: list[tuple[int, int]], keys: list[tuple[int, int]], stride: int
) -> tuple[torch.Tensor, int]:
    """Index of the |offset| between every query (scaled by `stride`) and key position, numbered
    in order of first appearance (LeViT's attention-bias table layout)."""
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    for q in queries:
        for k in keys:
            offset = (abs(q[0] * stride - k[0]), abs(q[1] * stride - k[1]))
            idxs.append(offsets.setdefault(offset, len(offsets)))
    return torch.tensor(idxs, dtype=torch.long).view(len(queries), len(keys)), len(offsets)


class BiasedAttention(nn.Module):
    """Shared part of the two attention kinds: the learned bias table, gathered per query/key pair."""

    attention_bias_idxs: torch.Tensor

    def _init_biases(self, heads: int, idxs: torch.Tensor, n_offsets: int) -> None:
        self.attention_biases = nn.Parameter(torch.zeros(heads, n_offsets))
        self.register_buffer("attention_bias_idxs", idxs)
        self.register_buffer("ab", None, persistent=False)

    def bias(self) -> torch.Tensor:
        """(heads, Nq, Nk) biases: the frozen table after `freeze_biases`, else gathered now."""
        if self.ab is not None:
            return self.ab
        return self.attention_biases[:, self.attention_bias_idxs]

    @torch.no_grad()
    def freeze_biases(self) -> None:
        """Gather the biases once for inference (the authors do this at eval()); kept as a
        non-persistent buffer so it follows .to() and stays out of the state dict."""
        self.ab = self.attention_biases[:, self.attention_bias_idxs].clone()


class Attention(BiasedAttention):
    """Multi-head self-attention over search+template tokens with LeViT attention biases."""

    def __init__(self, dim: int, key_dim: int, heads: int, search_side: int, template_side: int) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.scale = key_dim**-0.5
        self.d = ATTN_RATIO * key_dim
        self.dh = self.d * heads
        self.qkv = LinearBN(dim, self.dh + 2 * key_dim * heads)
        self.proj = nn.Sequential(nn.Hardswish(), LinearBN(self.dh, dim))
        points = token_grid(search_side, template_side)
        self._init_biases(heads, *bias_indices(points, points, stride=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, self.heads, -1).split([self.key_dim, self.key_dim, self.d], dim=3)
        q, k, v = q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale + self.bias()).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, self.dh))


class Subsample(nn.Module):
    """Keep every `stride`-th token of the search grid and of the template grid."""

    def __init__(self, stride: int, search_side: int, template_side: int) -> None:
        super().__init__()
        self.stride, self.search_side, self.template_side = stride, search_side, template_side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        ns, s, t = self.search_side**2, self.search_side, self.template_side
        search = x[:, :ns].view(b, s, s, c)[:, :: self.stride, :: self.stride].reshape(b, -1, c)
        template = x[:, ns : ns + t * t].view(b, t, t, c)[:, :: self.stride, :: self.stride].reshape(b, -1, c)
        return torch.cat((search, template), dim=1)


class AttentionSubsample(BiasedAttention):
    """Attention whose queries are a stride-2 subsample of the tokens (halves both grids)."""

    def __init__(
        self, cin: int, cout: int, key_dim: int, heads: int, search_side: int, template_side: int
    ) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.scale = key_dim**-0.5
        self.d = SUBSAMPLE_ATTN_RATIO * key_dim
        self.dh = self.d * heads
        self.kv = LinearBN(cin, self.dh + key_dim * heads)
        self.q = nn.Sequential(
            Subsample(SUBSAMPLE_STRIDE, search_side, template_side), LinearBN(cin, key_dim * heads)
        )
        self.proj = nn.Sequential(nn.Hardswish(), LinearBN(self.dh, cout))
        s_out = (search_side - 1) // SUBSAMPLE_STRIDE + 1
        t_out = (template_side - 1) // SUBSAMPLE_STRIDE + 1
        idxs, n = bias_indices(
            token_grid(s_out, t_out), token_grid(search_side, template_side), SUBSAMPLE_STRIDE
        )
        self._init_biases(heads, idxs, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        k, v = self.kv(x).view(b, n, self.heads, -1).split([self.key_dim, self.d], dim=3)
        k, v = k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3)
        q = self.q(x).view(b, -1, self.heads, self.key_dim).permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale + self.bias()).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, -1, self.dh))


class Residual(nn.Module):
    """x + m(x) (the branch is named `m` in the checkpoints)."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.m(x)


def _mlp(dim: int) -> Residual:
    return Residual(
        nn.Sequential(LinearBN(dim, dim * MLP_RATIO), nn.Hardswish(), LinearBN(dim * MLP_RATIO, dim))
    )


class LeViT(nn.Module):
    """Returns [stage-1 tokens, stage-2 tokens, mean token + stage-3 tokens] for (search, template)."""

    def __init__(self, spec: LeViTSpec, search_size: int, template_size: int) -> None:
        super().__init__()
        d0 = spec.dims[0]
        self.patch_embed = nn.Sequential(
            Conv2dBN(3, d0 // 8, 3, 2, 1),
            nn.Hardswish(),
            Conv2dBN(d0 // 8, d0 // 4, 3, 2, 1),
            nn.Hardswish(),
            Conv2dBN(d0 // 4, d0 // 2, 3, 2, 1),
            nn.Hardswish(),
            Conv2dBN(d0 // 2, d0, 3, 2, 1),
        )
        s, t = search_size // PATCH, template_size // PATCH
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        for i, (dim, depth, heads) in enumerate(zip(spec.dims, spec.depths, spec.heads, strict=True)):
            for _ in range(depth):
                blocks += [Residual(Attention(dim, spec.key_dim, heads, s, t)), _mlp(dim)]
            if i < 2:
                self.stage_ends.append(len(blocks))
                nxt = spec.dims[i + 1]
                blocks.append(AttentionSubsample(dim, nxt, spec.key_dim, dim // spec.key_dim, s, t))
                blocks.append(_mlp(nxt))
                s, t = (s - 1) // SUBSAMPLE_STRIDE + 1, (t - 1) // SUBSAMPLE_STRIDE + 1
        self.blocks = nn.Sequential(*blocks)
        self.num_patches_search = s * s

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(image).flatten(2).transpose(1, 2)

    def forward(self, search: torch.Tensor, template: torch.Tensor) -> list[torch.Tensor]:
        x = torch.cat((self.embed(search), self.embed(template)), dim=1)
        a, b = self.stage_ends
        x1 = self.blocks[:a](x)
        x2 = self.blocks[a:b](x1)
        x3 = self.blocks[b:](x2)
        return [x1, x2, torch.cat((x3.mean(1, keepdim=True), x3), dim=1)]
