"""E.T.Track (Blatter et al., WACV 2023) on plain PyTorch, with the authors' checkpoint keys
(`backbone_net.*`, `neck.BN_{z,x}.0`, `feature_fusor.*`, `cls_branch_1..6`, `cls_pred_head`,
`bbreg_branch_1..8`, `reg_pred_head`).

Template and search go through the LightTrack backbone, get their own BatchNorm, and are fused by
pixel-wise correlation (every template cell against every search cell: 64 channels) with channel
attention and a 1x1 adjustment to 128 channels. Two towers follow. Each is a separable conv, then
Exemplar Transformer layers, then a separable conv. The classification tower has 4 such layers and
gives 0.1 * logits. The regression tower has 6 and gives relu(.) * 16 = (l, t, r, b) distances in
search-crop pixels.

Exemplar Transformer layer: a global query (mean-pooled input, linear, ReLU) attends over 4
learned keys (scaled by 1/sqrt(256), temperature 2). The softmax weights mix 4 exemplar kernels
into one depthwise and one pointwise kernel per image. Then BN, ReLU, SE, residual, LayerNorm and
a feed-forward block. The mixed kernels depend on the input, so two exact forms are provided:
* `dynamic` (the authors'): convolve with the mixed kernel (ONNX Conv with a computed weight);
* `exemplar_sum`: convolution is linear in its kernel, so conv(x, sum_e a_e W_e) =
  sum_e a_e conv(x, W_e): static weights only, for backends that cannot take computed weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .lighttrack import OUT_CHANNELS, LightTrackBackbone, SqueezeExcite
from .specs import ETTrackConfig

CORR_CHANNELS = 64  # 8 x 8 template cells
ADJ_CHANNELS = 128
CLS_CHANNELS = 256
REG_CHANNELS = 192
QUERY_DIM = 256
FEEDFORWARD_DIM = 1024
EXEMPLAR_MODES = ("dynamic", "exemplar_sum")
# Depthwise kernel sizes of the Exemplar Transformer layers in each tower.
CLS_EXEMPLAR_KERNELS = (5, 3, 3, 3)
REG_EXEMPLAR_KERNELS = (3, 3, 3, 3, 5, 5)


class SeparableConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, kernel, 1, kernel // 2, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.BN = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.BN(self.pointwise(self.conv1(x))))


class QueryPooler(nn.Module):
    """Global average pool, linear, ReLU: the query (B, 1, QUERY_DIM)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, QUERY_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(x.mean((2, 3))[:, None, :]))


class ExemplarTransformer(nn.Module):
    def __init__(self, channels: int, kernel: int, exemplars: int, temperature: float) -> None:
        super().__init__()
        self.channels, self.kernel, self.temperature = channels, kernel, temperature
        self.mode = "dynamic"
        self.K = nn.Parameter(torch.zeros(exemplars, QUERY_DIM))
        self.V_dw = nn.Parameter(torch.zeros(exemplars, channels * kernel * kernel))
        self.V_pw = nn.Parameter(torch.zeros(exemplars, channels * channels))
        self.average_pooler = QueryPooler(channels)
        self.dw_bn = nn.BatchNorm2d(channels)
        self.pw_bn = nn.BatchNorm2d(channels)
        self.se = SqueezeExcite(channels, channels // 2, gate=torch.sigmoid)
        self.linear1 = nn.Linear(channels, FEEDFORWARD_DIM)
        self.linear2 = nn.Linear(FEEDFORWARD_DIM, channels)
        self.norm1 = nn.LayerNorm(channels)
        self.norm2 = nn.LayerNorm(channels)

    def exemplar_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax attention of the pooled query over the exemplar keys: (B, exemplars)."""
        q = self.average_pooler(x)
        qk = torch.matmul(q, self.K.T) * (1 / math.sqrt(QUERY_DIM))
        return torch.softmax(qk / self.temperature, dim=-1)[:, 0]

    def _dynamic(
        self, x: torch.Tensor, attn: torch.Tensor, bank: torch.Tensor, depthwise: bool
    ) -> torch.Tensor:
        """The authors' form: one mixed kernel per image, all images in one grouped conv."""
        b, c, h, w = x.shape
        k = self.kernel if depthwise else 1
        # channel counts from the layer (static), so an export keeps the kernel shape known
        weight = torch.matmul(attn, bank).reshape(-1, 1 if depthwise else self.channels, k, k)
        groups = self.channels if depthwise else 1
        if b == 1:  # what the tracker runs (and exports): no batch folding needed
            return F.conv2d(x, weight, padding=k // 2, groups=groups)
        y = F.conv2d(x.reshape(1, b * c, h, w), weight, padding=k // 2, groups=groups * b)
        return y.reshape(b, self.channels, h, w)

    def _exemplar_sum(
        self, x: torch.Tensor, attn: torch.Tensor, bank: torch.Tensor, depthwise: bool
    ) -> torch.Tensor:
        """The linear rewrite: each exemplar kernel applied (static weights), outputs mixed."""
        e = bank.shape[0]
        if depthwise:  # output channel c*E + e: channel c convolved with exemplar e
            k = self.kernel
            weight = bank.reshape(e, self.channels, k, k).transpose(0, 1).reshape(-1, 1, k, k)
            y = F.conv2d(x, weight, padding=k // 2, groups=self.channels).unflatten(1, (self.channels, e))
            return (y * attn[:, None, :, None, None]).sum(2)
        y = F.conv2d(x, bank.reshape(-1, self.channels, 1, 1)).unflatten(1, (e, self.channels))  # e*C + o
        return (y * attn[:, :, None, None, None]).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        attn = self.exemplar_weights(x)
        conv = self._dynamic if self.mode == "dynamic" else self._exemplar_sum
        y = self.se(F.relu(self.dw_bn(conv(x, attn, self.V_dw, depthwise=True))))
        y = F.relu(self.pw_bn(conv(y, attn, self.V_pw, depthwise=False)))
        # LayerNorm and feed-forward act per cell over channels (channels-last, no reshape, so
        # an export keeps the search size dynamic)
        tokens = self.norm1((y + residual).permute(0, 2, 3, 1))
        tokens = self.norm2(tokens + self.linear2(F.relu(self.linear1(tokens))))
        return tokens.permute(0, 3, 1, 2)


class ChannelAttention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class PixelCorrelation(nn.Module):
    """Each template cell's feature vector dotted with every search cell's: (B, 64, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.CA_layer = ChannelAttention(CORR_CHANNELS)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        kernels = z.flatten(2)[:, None]  # (B, 1, C, 64)
        corr = torch.matmul(x.permute(0, 2, 3, 1), kernels)  # (B, H, W, 64)
        return self.CA_layer(corr.permute(0, 3, 1, 2))


class FeatureFusor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pw_corr = nn.ModuleList([PixelCorrelation()])
        self.adj_layer = nn.ModuleList([nn.Conv2d(CORR_CHANNELS, ADJ_CHANNELS, 1)])

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.adj_layer[0](self.pw_corr[0](z, x))


class Neck(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.BN_z = nn.ModuleList([nn.BatchNorm2d(OUT_CHANNELS)])
        self.BN_x = nn.ModuleList([nn.BatchNorm2d(OUT_CHANNELS)])


class ClsPredHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_pred = nn.Conv2d(CLS_CHANNELS, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.1 * self.cls_pred(x)


class RegPredHead(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.bbox_pred = nn.Conv2d(REG_CHANNELS, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bbox_pred(x)) * self.stride


class ETTrackNet(nn.Module):
    """forward(template (B,3,127,127), search (B,3,S,S)) -> (cls (B,1,S/16,S/16), reg (B,4,..)).
    `template_features` + `track` split it the way the tracker uses it (template encoded once)."""

    def __init__(self, config: ETTrackConfig) -> None:
        super().__init__()
        e, t = config.exemplars, config.temperature
        self.backbone_net = LightTrackBackbone()
        self.neck = Neck()
        self.feature_fusor = FeatureFusor()
        self.cls_branch_1 = SeparableConvBNReLU(ADJ_CHANNELS, CLS_CHANNELS, 5)
        for i, k in enumerate(CLS_EXEMPLAR_KERNELS, start=2):
            setattr(self, f"cls_branch_{i}", ExemplarTransformer(CLS_CHANNELS, k, e, t))
        self.cls_branch_6 = SeparableConvBNReLU(CLS_CHANNELS, CLS_CHANNELS, 3)
        self.cls_pred_head = ClsPredHead()
        self.bbreg_branch_1 = SeparableConvBNReLU(ADJ_CHANNELS, REG_CHANNELS, 3)
        for i, k in enumerate(REG_EXEMPLAR_KERNELS, start=2):
            setattr(self, f"bbreg_branch_{i}", ExemplarTransformer(REG_CHANNELS, k, e, t))
        self.bbreg_branch_8 = SeparableConvBNReLU(REG_CHANNELS, REG_CHANNELS, 5)
        self.reg_pred_head = RegPredHead(config.stride)
        self.cls_tower = [getattr(self, f"cls_branch_{i}") for i in range(1, 7)]
        self.reg_tower = [getattr(self, f"bbreg_branch_{i}") for i in range(1, 9)]

    def set_exemplar_mode(self, mode: str) -> ETTrackNet:
        if mode not in EXEMPLAR_MODES:
            raise ValueError(f"exemplar mode must be one of {EXEMPLAR_MODES}, got '{mode}'")
        for module in self.modules():
            if isinstance(module, ExemplarTransformer):
                module.mode = mode
        return self

    def template_features(self, template: torch.Tensor) -> torch.Tensor:
        return self.backbone_net(template)

    def track(self, template_feat: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.neck.BN_z[0](template_feat)
        x = self.neck.BN_x[0](self.backbone_net(search))
        fused = self.feature_fusor(z, x)
        c, r = fused, fused
        for layer in self.cls_tower:
            c = layer(c)
        for layer in self.reg_tower:
            r = layer(r)
        return self.cls_pred_head(c), self.reg_pred_head(r)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.track(self.template_features(template), search)


class CachedTemplateFeatures(nn.Module):
    """The same network with the template's backbone features kept until the template changes
    (torch backend; E.T.Track never changes its template during a track). It follows
    backends.torch_graphs.TemplateCached, so CUDA graphs keep the features on the device."""

    template_inputs = ("template",)

    def __init__(self, net: ETTrackNet) -> None:
        super().__init__()
        self.net = net
        self._template: torch.Tensor | None = None
        self._features: tuple[torch.Tensor, ...] = ()
        self.template_passes = 0

    def encode_templates(self, template: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.net.template_features(template),)

    def track(
        self, features: tuple[torch.Tensor, ...], search: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.track(features[0], search)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._template is None or not torch.equal(self._template, template):
            self._features = self.encode_templates(template)
            self._template = template.clone()
            self.template_passes += 1
        return self.track(self._features, search)


def build_ettrack(variant: str = "ettrack") -> ETTrackNet:
    from .specs import ETTRACK_VARIANTS

    if variant not in ETTRACK_VARIANTS:
        raise ValueError(f"unknown E.T.Track variant '{variant}'; available: {', '.join(ETTRACK_VARIANTS)}")
    return ETTrackNet(ETTRACK_VARIANTS[variant])
