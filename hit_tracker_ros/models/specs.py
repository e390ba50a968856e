"""Architecture and tracker-geometry constants of the model families (importable without torch,
so ONNX-only deployments can run the pipelines)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class CropGeometry:
    """The STARK-lineage crops (HiT, MixFormerV2, CompressTracker): a template of
    template_factor x the target's size at template_size px, a search region of search_factor x
    at search_size px, and the authors' clip margin of the box in the frame."""

    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0
    clip_margin: int = 10


@dataclass(frozen=True)
class LeViTSpec:
    """Widths, depths and heads of the three stages; key_dim is LeViT's D."""

    dims: tuple[int, int, int]
    depths: tuple[int, int, int]
    heads: tuple[int, int, int]
    key_dim: int


LEVIT_384 = LeViTSpec(dims=(384, 512, 768), depths=(4, 4, 4), heads=(6, 9, 12), key_dim=32)
LEVIT_128 = LeViTSpec(dims=(128, 256, 384), depths=(4, 4, 4), heads=(4, 8, 12), key_dim=16)
LEVIT_128S = LeViTSpec(dims=(128, 256, 384), depths=(2, 3, 4), heads=(4, 6, 8), key_dim=16)


@dataclass(frozen=True)
class HiTConfig(CropGeometry):
    """One HiT variant: backbone spec (the crops are the authors' yaml files': the defaults)."""

    name: str
    backbone: LeViTSpec
    hidden_dim: int = 256
    head_channel: int = 256


HIT_VARIANTS: dict[str, HiTConfig] = {
    "hit_base": HiTConfig("HiT-Base", LEVIT_384),
    "hit_small": HiTConfig("HiT-Small", LEVIT_128),
    "hit_tiny": HiTConfig("HiT-Tiny", LEVIT_128S),
}
HIT_INPUTS = ("search", "template")
HIT_OUTPUTS = ("pred_boxes", "score_map_tl", "score_map_br")


@dataclass(frozen=True)
class CompressTrackerConfig(CropGeometry):
    """CompressTracker-N: an OSTrack-style ViT-B/16 student with N blocks and a centre head."""

    name: str
    depth: int
    embed_dim: int = 768
    num_heads: int = 12
    mlp_ratio: int = 4
    head_channels: int = 256

    @property
    def feat_sz(self) -> int:
        return self.search_size // 16


COMPRESSTRACKER_VARIANTS: dict[str, CompressTrackerConfig] = {
    f"compresstracker_{n}": CompressTrackerConfig(f"CompressTracker-{n}", n) for n in (2, 3, 4, 6, 8)
}
CENTER_INPUTS = ("template", "search")
CENTER_OUTPUTS = ("pred_boxes", "score_map", "size_map", "offset_map")


@dataclass(frozen=True)
class MixFormerV2Config(CropGeometry):
    """MixFormerV2: ViT-B/16 blocks with mixed attention, 4 prediction tokens, distribution box head."""

    name: str
    depth: int
    mlp_ratio: int
    # the yaml's TEST.SEARCH_FACTOR (the authors' eval script may override)
    search_factor: float = field(default=4.5, kw_only=True)
    embed_dim: int = 768
    num_heads: int = 12
    bins: int = 96
    update_interval: int = 5  # online template swap period (frames)
    score_gate: float = 0.5  # a frame can provide the online template only above this score


MIXFORMERV2_VARIANTS: dict[str, MixFormerV2Config] = {
    "mixformerv2_b": MixFormerV2Config(
        "MixFormerV2-B", depth=8, mlp_ratio=4, template_size=128, search_size=288
    ),
    "mixformerv2_s": MixFormerV2Config(
        "MixFormerV2-S", depth=4, mlp_ratio=1, template_size=112, search_size=224
    ),
}
MIXFORMER_INPUTS = ("template", "online_template", "search")
MIXFORMER_OUTPUTS = ("pred_boxes", "pred_scores", "prob_l", "prob_t", "prob_r", "prob_b")


@dataclass(frozen=True)
class ETTrackConfig:
    """E.T.Track: LightTrack-Mobile backbone (stride 16), pixel-wise correlation, Exemplar
    Transformer heads. Tracker constants are those of the authors' hard-coded tracker `Config`
    (not their unused parameter file)."""

    name: str = "E.T.Track"
    exemplars: int = 4
    temperature: float = 2.0
    template_size: int = 127  # exemplar_size (even = 0)
    search_size: int = 256  # instance_size for targets covering >= small_target_area of the frame
    big_search_size: int = 288  # instance_size for smaller targets
    small_target_area: float = 0.004
    stride: int = 16
    context_amount: float = 0.5
    penalty_k: float = 0.007
    window_influence: float = 0.225
    size_lr: float = 0.616
    min_size: float = 10.0  # the tracker clamps w, h to [10, image size]

    @property
    def search_sizes(self) -> tuple[int, ...]:
        return (self.search_size, self.big_search_size)


ETTRACK_VARIANTS: dict[str, ETTrackConfig] = {"ettrack": ETTrackConfig()}
ETTRACK_INPUTS = ("template", "search")
ETTRACK_OUTPUTS = ("cls", "reg")


@dataclass(frozen=True)
class AsymTrackConfig(CropGeometry):
    """AsymTrack: EfficientMod-xxs stages (widths 32/64/128, downsampled to 64/128/256) with
    template modulation (ETM) in stages 2 and 3 and one attention block closing stage 3; `depth3`
    is the number of modulation blocks in stage 3 (1 for T, 3 for S and B, which share weights and
    differ only in their crop sizes)."""

    name: str
    depth3: int
    hidden_dim: int = 256
    head_channel: int = 256
    stride: int = 32  # of the last stage, which the corner head reads

    @property
    def feat_sz(self) -> int:
        return self.search_size // self.stride


ASYMTRACK_VARIANTS: dict[str, AsymTrackConfig] = {
    "asymtrack_tiny": AsymTrackConfig("AsymTrack-T", depth3=1),
    "asymtrack_small": AsymTrackConfig("AsymTrack-S", depth3=3),
    "asymtrack_base": AsymTrackConfig("AsymTrack-B", depth3=3, template_size=192, search_size=384),
}
ASYMTRACK_INPUTS = HIT_INPUTS
ASYMTRACK_OUTPUTS = HIT_OUTPUTS
# What the template graph computes once per target: the mean ETM kernels of stages 2 and 3 and
# the template tokens the stage-3 attention block reads.
ASYMTRACK_CACHE = ("template_kernels_2", "template_kernels_3", "template_tokens")


def asymtrack_cache_shapes(config: AsymTrackConfig) -> dict[str, tuple[int, ...]]:
    """Shapes (batch 1) of ASYMTRACK_CACHE: ETM kernels (dim // 32 of them, dim wide) of stages 2
    and 3 (widths 64, 128), and the template's tokens at stride 16."""
    side = config.template_size // 16
    return dict(zip(ASYMTRACK_CACHE, ((1, 2, 64), (1, 4, 128), (1, side * side, 128)), strict=True))
