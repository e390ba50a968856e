"""AsymTrack tracking pipeline (the authors' lib/test/tracker/AsymTrack.py): HiT's, a template
from the first frame only, a search crop around the previous box, the corner-head box mapped back
and clipped (10 px margin); no Hann window, no score head, no template update.

Its template half runs once per target on every backend: the torch runtime caches it
(models.asymtrack.CachedTemplate, also under CUDA graphs), the ONNX runtimes run two graphs
(backends.two_graphs). Like HiT it has no score head: the confidence for LOST is HiT's corner-map
confidence (trackers.hit.corner_confidence).
"""

from __future__ import annotations

from ..models.specs import (
    ASYMTRACK_CACHE,
    ASYMTRACK_INPUTS,
    ASYMTRACK_OUTPUTS,
    ASYMTRACK_VARIANTS,
    asymtrack_cache_shapes,
)
from .family import Family, TwoGraphs, lazy
from .hit import HiTTracker
from .network import register_family
from .options import CropOptions


class AsymTrackTracker(HiTTracker):
    """AsymTrack-T/S/B over any NetworkRunner: HiT's pipeline and decoding, its own variants."""

    variants = ASYMTRACK_VARIANTS


ASYMTRACK = Family(
    name="AsymTrack",
    variants=ASYMTRACK_VARIANTS,
    inputs=ASYMTRACK_INPUTS,
    outputs=ASYMTRACK_OUTPUTS,
    build_network=lazy("hit_tracker_ros.models.asymtrack", "build_asymtrack"),
    prepare=lambda net: net.prepare_for_inference(),
    make_tracker=AsymTrackTracker,
    options=CropOptions,
    torch_runtime=lazy("hit_tracker_ros.models.asymtrack", "CachedTemplate"),
    two_graphs=TwoGraphs(
        cache=ASYMTRACK_CACHE,
        cache_shapes=lambda variant: asymtrack_cache_shapes(ASYMTRACK_VARIANTS[variant]),
        template_graph=lazy("hit_tracker_ros.models.asymtrack", "TemplateGraph"),
        search_graph=lazy("hit_tracker_ros.models.asymtrack", "SearchGraph"),
    ),
    checkpoint_help=(
        "AsymTrack checkpoints are published by the authors (github.com/jiawen-zhu/AsymTrack, README "
        "'Model Zoo'): download e.g. AsymTrack_T.pth.tar into models/ and pass "
        "checkpoint:=models/AsymTrack_T.pth.tar (S and B use the same checkpoint)"
    ),
    descriptions={
        v: f"{c.name} (EfficientMod-xxs with template modulation, template once per target), AAAI 2025"
        for v, c in ASYMTRACK_VARIANTS.items()
    },
)

register_family(ASYMTRACK)
