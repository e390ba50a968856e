"""Architecture and tracker-geometry constants of the model families (importable without torch,
so ONNX-only deployments can run the pipelines)."""

from __future__ import annotations

from dataclasses import dataclass


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
class HiTConfig:
    """One HiT variant: backbone spec and the tracker geometry of the authors' yaml files."""

    name: str
    backbone: LeViTSpec
    hidden_dim: int = 256
    head_channel: int = 256
    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0
    clip_margin: int = 10


HIT_VARIANTS: dict[str, HiTConfig] = {
    "hit_base": HiTConfig("HiT-Base", LEVIT_384),
    "hit_small": HiTConfig("HiT-Small", LEVIT_128),
    "hit_tiny": HiTConfig("HiT-Tiny", LEVIT_128S),
}
HIT_INPUTS = ("search", "template")
HIT_OUTPUTS = ("pred_boxes", "score_map_tl", "score_map_br")


@dataclass(frozen=True)
class CompressTrackerConfig:
    """CompressTracker-N: an OSTrack-style ViT-B/16 student with N blocks and a centre head."""

    name: str
    depth: int
    embed_dim: int = 768
    num_heads: int = 12
    mlp_ratio: int = 4
    head_channels: int = 256
    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0
    clip_margin: int = 10

    @property
    def feat_sz(self) -> int:
        return self.search_size // 16


COMPRESSTRACKER_VARIANTS: dict[str, CompressTrackerConfig] = {
    f"compresstracker_{n}": CompressTrackerConfig(f"CompressTracker-{n}", n) for n in (2, 3, 4, 6, 8)
}
CENTER_INPUTS = ("template", "search")
CENTER_OUTPUTS = ("pred_boxes", "score_map", "size_map", "offset_map")
