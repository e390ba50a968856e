"""AsymTrack (Zhu et al., AAAI 2025): an asymmetric Siamese EfficientMod-xxs backbone whose
template branch runs once per target, then a Linear neck and HiT's corner head.

Layout (channels-last (B, H, W, C) tensors, as the authors'): a patch embedding, then three stages
of modulation blocks (a depth-wise 7x7 context branch multiplying an MLP), each closed by an OPE
block (three 3x3 convolutions with a central-difference term, folded into one at load time, as
the authors' `switch_to_deploy()` does) and a downsampling. Stages 2 and 3 add template
modulation (ETM): the template gives per-target kernels, a sum over its positions, that modulate
the search features through a dynamic 1-D convolution. Stage 3 ends with one attention block in
which search tokens attend to search + template tokens. The template never sees the search.

What the template computes is a separate method (`encode_template`), so backends run it once per
target: the torch runtime caches it (`CachedTemplate`), the ONNX export is two graphs.

Numerics chosen for the runtimes (exact in fp32 up to rounding, checked against the authors'):
* the ETM's position sums are kept as means (divided before the sum), and the dynamic kernels and
  their mix are rescaled row by row, the scales moved into the LayerNorm's epsilon (LN_eps(s v) =
  LN_eps/s^2(v)): with the golden weights the authors' form reaches 6e8 at B's search (FP16 ends
  at 65504), ours a few times the features (tested);
* the dynamic 1-D convolutions are shifted multiply-adds and a batched matmul (no convolution
  with data-dependent weights, which TensorRT refuses), and batch rows never mix.

Parameter names are the authors' checkpoint keys (`backbone.*`, `box_head.*`, `bottleneck.*`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import CornerHead
from .specs import ASYMTRACK_VARIANTS, AsymTrackConfig

WIDTHS = (32, 64, 128)  # stage widths of EfficientMod-xxs
OUT_WIDTHS = (64, 128, 256)  # after each stage's downsampling
DEPTHS = (2, 2)  # modulation blocks of stages 1 and 2 (stage 3: the variant's depth3)
CONTEXT_KERNEL = 7
ETM_STAGES = (1, 2)  # 0-based: stages 2 and 3
ATTENTION_HEADS, ATTENTION_HEAD_DIM, ATTENTION_MLP = 8, 32, 4
SCALE_FLOOR = 1e-6  # a zero dynamic kernel stays zero (any positive scale is exact)


def mlp_ratio(index: int) -> int:
    """The authors' per-block MLP ratios alternate 1, 6, 1, ... in every stage."""
    return 1 if index % 2 == 0 else 6


class PatchEmbed(nn.Module):
    """Strided convolution then LayerNorm, channels-last in and out."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, pad: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, kernel, stride, pad)
        self.norm = nn.LayerNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class ContextLayer(nn.Module):
    """Linear, depth-wise 7x7 convolution, GELU, Linear: the modulating context."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.f = nn.Linear(dim, dim)
        self.g = nn.Linear(dim, dim)
        self.context_list = nn.ModuleList(
            [nn.Conv2d(dim, dim, CONTEXT_KERNEL, 1, CONTEXT_KERNEL // 2, groups=dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.context_list[0](self.f(x).permute(0, 3, 1, 2)))
        return self.g(y.permute(0, 2, 3, 1))


class ModulationMlp(nn.Module):
    """fc1 (GELU only when it expands: the authors skip it at ratio 1), multiplied by the context
    (repeated over the expansion), fc2."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        self.ratio = ratio
        self.fc1 = nn.Linear(dim, dim * ratio)
        self.context_layer = ContextLayer(dim)
        self.fc2 = nn.Linear(dim * ratio, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.context_layer(x)
        y = self.fc1(x)
        if self.ratio > 1:
            y = F.gelu(y) * context.repeat(1, 1, 1, self.ratio)
        else:
            y = y * context
        return self.fc2(y)


class ModulationBlock(nn.Module):
    """x + gamma * mlp(norm(x)) (EfficientMod's basic block with layer scale)."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        self.gamma_1 = nn.Parameter(torch.ones(dim))
        self.norm = nn.LayerNorm(dim)
        self.mlp = ModulationMlp(dim, ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma_1 * self.mlp(self.norm(x))


class DynamicKernelMix(nn.Module):
    """The authors' DySepConvAtten inside ETM: from the template kernels, a per-target depth-wise
    1-D kernel (size 3, along channels) and a point-wise mix of the n kernels, applied to the
    search kernels, then LayerNorm.

    The LayerNorm makes each output row's scale irrelevant, so the dynamic weights are computed
    without the template's position count, each depth-wise kernel is scaled to a peak of 1 (its
    scale moved into the mix's column) and each mix row too; the scale taken out goes into that
    row's epsilon (LN_eps(s v) = LN_eps/s^2(v)). Exact in FP32; in FP16 every intermediate stays
    within a few times the search kernels' magnitude, whatever the learned weights' scale."""

    def __init__(self, dim: int, n: int) -> None:
        super().__init__()
        self.dim = dim
        self.weight_linear = nn.Linear(dim, n + 3)
        self.norm = nn.LayerNorm(dim)

    def normalized(
        self,
        template_mean: torch.Tensor,
        template_positions: int,
        search_mean: torch.Tensor,
        search_positions: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, eps) with the authors' pre-norm output = s * u per row and eps = their eps / s^2.
        template_mean, search_mean: (B, n, C) kernels as means over their positions."""
        weights = F.linear(
            template_mean, self.weight_linear.weight, self.weight_linear.bias / template_positions
        )
        depth, mix = weights[..., :3], weights[..., 3:]  # both template_positions x too small
        depth_scale = depth.abs().amax(-1, keepdim=True).clamp_min(SCALE_FLOOR)  # (B, n, 1)
        depth = depth / depth_scale
        zero = torch.zeros_like(search_mean[..., :1])  # 'same' padding along the channels (F.pad
        padded = torch.cat((zero, search_mean, zero), dim=-1)  # exports a reversed Slice: a warning)
        width = self.dim  # static: a traced shape would make the slices dynamic
        y = depth[..., 0:1] * padded[..., :width]
        for k in (1, 2):
            y = y + depth[..., k : k + 1] * padded[..., k : k + width]
        mix = mix * depth_scale.transpose(1, 2)  # column j carries kernel j's scale
        mix_scale = mix.abs().amax(-1, keepdim=True).clamp_min(SCALE_FLOOR)  # (B, n, 1)
        u = torch.matmul(mix / mix_scale, F.relu(y))
        true_scale = mix_scale * float(template_positions) ** 2 * float(search_positions)
        return u, self.norm.eps / true_scale**2

    def forward(
        self,
        template_mean: torch.Tensor,
        template_positions: int,
        search_mean: torch.Tensor,
        search_positions: int,
    ) -> torch.Tensor:
        u, eps = self.normalized(template_mean, template_positions, search_mean, search_positions)
        centred = u - u.mean(-1, keepdim=True)
        variance = (centred * centred).mean(-1, keepdim=True)
        return centred / torch.sqrt(variance + eps) * self.norm.weight + self.norm.bias


def position_mean(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """einsum('bhwn,bhwc->bnc') / (h w) as a batched matmul, divided first (no FP16 sum of up to
    2,304 products)."""
    b, h, w, c = features.shape
    n = weights.shape[-1]
    return torch.matmul(
        (weights / (h * w)).reshape(b, h * w, n).transpose(1, 2), features.reshape(b, h * w, c)
    )


class TemplateModulation(nn.Module):
    """ETM: search features modulated by kernels of the template (the authors' version 'v5').
    `post_kernels` and `downsample` are in the checkpoint but unused by the authors' forward."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        n = dim // 32
        self.pre_kernels = nn.Linear(dim, n)
        self.pre_kernels_x = nn.Linear(dim, n)
        self.post_kernels = nn.Linear(n, dim)
        self.downsample = PatchEmbed(dim, dim, 3, 2, 1)
        self.proj_Cto1 = nn.Linear(dim, 1)
        self.ln = nn.LayerNorm(dim)
        self.conv_att = DynamicKernelMix(dim, n)

    def template_kernels(self, z: torch.Tensor) -> torch.Tensor:
        """(B, n, C): the authors' kernels divided by the template's positions."""
        return position_mean(self.pre_kernels(z), z)

    def forward(self, x: torch.Tensor, kernels: torch.Tensor, template_positions: int) -> torch.Tensor:
        b, h, w, c = x.shape
        x_n = self.pre_kernels_x(x)
        mixed = self.conv_att(kernels, template_positions, position_mean(x_n, x), h * w)  # (B, n, C)
        correlated = torch.matmul(x_n.reshape(b, h * w, -1), mixed)  # (B, HW, C)
        gate = torch.sigmoid(torch.matmul(self.proj_Cto1(mixed).transpose(1, 2), mixed))  # (B, 1, C)
        correlated = (correlated * gate).reshape(b, h, w, c)
        return x + F.relu(self.ln(correlated))


class OPE(nn.Module):
    """Three 3x3 convolutions minus a central-difference term (weight theta), LayerNorm, ReLU,
    added with a learned scale. `fuse()` folds the branches into one convolution exactly as the
    authors' switch_to_deploy() does."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(1))
        self.ibe_scale = nn.Parameter(torch.zeros(dim))
        self.rbr_conv = nn.ModuleList(nn.Conv2d(dim, dim, 3, 1, 1, bias=False) for _ in range(3))
        self.ln = nn.LayerNorm(dim)
        self.reparam: nn.Conv2d | None = None

    def fused_weight(self) -> torch.Tensor:
        theta = torch.sigmoid(self.theta)
        weight = torch.zeros_like(self.rbr_conv[0].weight)
        for conv in self.rbr_conv:
            weight = weight + (
                conv.weight - F.pad(theta * conv.weight.sum((2, 3), keepdim=True), (1, 1, 1, 1))
            )
        return weight

    @torch.no_grad()
    def fuse(self) -> None:
        conv = self.rbr_conv[0]
        self.reparam = nn.Conv2d(conv.in_channels, conv.out_channels, 3, 1, 1, bias=False)
        self.reparam.weight.copy_(self.fused_weight())
        del self.rbr_conv, self.theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.reparam.weight if self.reparam is not None else self.fused_weight()
        y = F.conv2d(x.permute(0, 3, 1, 2), weight, padding=1).permute(0, 2, 3, 1)
        return x + self.ibe_scale * F.relu(self.ln(y))


class Attention(nn.Module):
    """Multi-head attention, 8 heads of 32 (the authors' head_dim = max(dim // heads, 32)), no qkv
    bias; queries from `x`, keys and values from `x` followed by `context`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        inner = ATTENTION_HEADS * ATTENTION_HEAD_DIM
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, dim)

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, ATTENTION_HEADS, ATTENTION_HEAD_DIM).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        inner = ATTENTION_HEADS * ATTENTION_HEAD_DIM
        qkv, context_qkv = self.qkv(x), self.qkv(context)  # the context's queries are unused
        q = self.heads(qkv[..., :inner])
        k = self.heads(torch.cat((qkv[..., inner : 2 * inner], context_qkv[..., inner : 2 * inner]), dim=1))
        v = self.heads(torch.cat((qkv[..., 2 * inner :], context_qkv[..., 2 * inner :]), dim=1))
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * ATTENTION_HEAD_DIM**-0.5, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(x.shape[0], x.shape[1], inner)
        return self.proj(out)


class AttentionBlock(nn.Module):
    """Pre-norm transformer block over the search tokens with the template tokens as extra keys
    and values. The authors run it on cat([search, template]) and keep the search rows; the
    template rows never reach those (attention and MLP are per query row), so only search rows
    are computed."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.fc1 = nn.Linear(dim, dim * ATTENTION_MLP)
        self.mlp.act = nn.GELU()
        self.mlp.fc2 = nn.Linear(dim * ATTENTION_MLP, dim)

    def forward(self, x: torch.Tensor, template_tokens: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        t = x.reshape(b, h * w, c)
        t = t + self.attn(self.norm1(t), self.norm1(template_tokens))
        t = t + self.mlp(self.norm2(t))
        return t.reshape(b, h, w, c)


class Stage(nn.Module):
    """Modulation blocks, [ETM], OPE, [attention], then the downsampling (the authors' BasicLayer;
    `blocks` keeps their indices)."""

    def __init__(self, index: int, depth: int) -> None:
        super().__init__()
        dim = WIDTHS[index]
        blocks: list[nn.Module] = [ModulationBlock(dim, mlp_ratio(i)) for i in range(depth)]
        if index in ETM_STAGES:
            blocks.append(TemplateModulation(dim))
        blocks.append(OPE(dim))
        if index == len(WIDTHS) - 1:
            blocks.append(AttentionBlock(dim))
        self.blocks = nn.ModuleList(blocks)
        self.downsample = PatchEmbed(dim, OUT_WIDTHS[index], 3, 2, 1)


class Backbone(nn.Module):
    def __init__(self, depth3: int) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(3, WIDTHS[0], 7, 4, 3)
        self.layers = nn.ModuleList(Stage(i, d) for i, d in enumerate((*DEPTHS, depth3)))


class AsymTrackNet(nn.Module):
    """forward(search, template) -> (pred_boxes (B, 1, 4) cx, cy, w, h in [0, 1] of the search
    crop, corner logits (B, 1, F, F) top-left and bottom-right), the template computed each call
    (the reference); `encode_template` and `track` are its two halves."""

    def __init__(self, config: AsymTrackConfig) -> None:
        super().__init__()
        self.config = config
        # Registration order = the checkpoint's key order: backbone, box_head, bottleneck.
        self.backbone = Backbone(config.depth3)
        self.box_head = CornerHead(config.hidden_dim, config.head_channel, config.feat_sz, config.stride)
        self.bottleneck = nn.Linear(OUT_WIDTHS[-1], config.hidden_dim)

    def encode_template(self, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean ETM kernels of stage 2 (B, 2, 64), of stage 3 (B, 4, 128), template tokens
        entering the stage-3 attention block (B, (T/16)^2, 128)). Nothing after that block reads
        the template, so its path stops there."""
        z = self.backbone.patch_embed(template.permute(0, 2, 3, 1))
        kernels: list[torch.Tensor] = []
        for stage in self.backbone.layers:
            for block in stage.blocks:
                if isinstance(block, TemplateModulation):
                    kernels.append(block.template_kernels(z))
                elif isinstance(block, AttentionBlock):
                    b, h, w, c = z.shape
                    return kernels[0], kernels[1], z.reshape(b, h * w, c)
                else:
                    z = block(z)
            z = stage.downsample(z)
        raise AssertionError("the last stage ends with an attention block")

    def track(
        self,
        search: torch.Tensor,
        kernels_2: torch.Tensor,
        kernels_3: torch.Tensor,
        template_tokens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The search half, reading what encode_template computed."""
        kernels = iter((kernels_2, kernels_3))
        side = self.config.template_size // 4  # the template's side after the patch embedding
        x = self.backbone.patch_embed(search.permute(0, 2, 3, 1))
        for stage in self.backbone.layers:
            for block in stage.blocks:
                if isinstance(block, TemplateModulation):
                    x = block(x, next(kernels), side * side)
                elif isinstance(block, AttentionBlock):
                    x = block(x, template_tokens)
                else:
                    x = block(x)
            x = stage.downsample(x)
            side //= 2
        b, h, w, c = x.shape
        memory = self.bottleneck(x.reshape(b, h * w, c))  # the Linear neck
        return self.box_head(memory.transpose(1, 2).reshape(b, -1, h, w))

    def forward(self, search: torch.Tensor, template: torch.Tensor):
        return self.track(search, *self.encode_template(template))

    def prepare_for_inference(self) -> AsymTrackNet:
        """Fold every OPE block (the authors' switch_to_deploy) and switch to eval mode."""
        for module in self.modules():
            if isinstance(module, OPE):
                module.fuse()
        return self.eval()


class CachedTemplate(nn.Module):
    """The network with the template half kept until the template changes (the torch runtime;
    AsymTrack never updates its template during a track). It follows
    backends.torch_graphs.TemplateCached, so CUDA graphs keep the cache on the device. The cache
    is keyed by the template's content, so a re-initialization can never keep an old target's
    state, which the authors' network does (it caches inside the model and never resets)."""

    template_inputs = ("template",)

    def __init__(self, net: AsymTrackNet) -> None:
        super().__init__()
        self.net = net
        self._template: torch.Tensor | None = None
        self._features: tuple[torch.Tensor, ...] = ()
        self.template_passes = 0  # how often the template half ran (tests, benchmarks)

    def encode_templates(self, template: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.net.encode_template(template)

    def track(self, features: tuple[torch.Tensor, ...], search: torch.Tensor):
        return self.net.track(search, *features)

    def forward(self, search: torch.Tensor, template: torch.Tensor):
        if self._template is None or not torch.equal(self._template, template):
            with torch.no_grad():
                self._features = self.encode_templates(template)
            self._template = template.clone()
            self.template_passes += 1
        return self.track(self._features, search)


class TemplateGraph(nn.Module):
    """The template half alone (the first ONNX graph): template -> ASYMTRACK_CACHE."""

    def __init__(self, net: AsymTrackNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, template: torch.Tensor):
        return self.net.encode_template(template)


class SearchGraph(nn.Module):
    """The search half alone (the second ONNX graph): search + ASYMTRACK_CACHE -> outputs."""

    def __init__(self, net: AsymTrackNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, search, kernels_2, kernels_3, template_tokens):
        return self.net.track(search, kernels_2, kernels_3, template_tokens)


def build_asymtrack(variant: str) -> AsymTrackNet:
    """Unfused AsymTrack network of `variant` (asymtrack_tiny, _small, _base), random weights."""
    if variant not in ASYMTRACK_VARIANTS:
        raise ValueError(f"unknown AsymTrack variant '{variant}'; available: {', '.join(ASYMTRACK_VARIANTS)}")
    return AsymTrackNet(ASYMTRACK_VARIANTS[variant])
