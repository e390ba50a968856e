"""What the shared factory needs to know about a network family (torch-free)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .options import NoOptions


def lazy(module: str, attr: str) -> Callable:
    """`module.attr(...)`, imported at the first call (keeps torch out of import time, so
    ONNX-only deployments never need it)."""

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    return call


def _identity(state_dict: dict) -> dict:
    return state_dict


def _eval(net):
    return net.eval()


@dataclass(frozen=True)
class TwoGraphs:
    """How a family whose template half runs once per target is exported (AsymTrack): a template
    graph (template -> cache) and a search graph (search, *cache -> the family's outputs), so that
    the ONNX runtimes run the template graph only when a target's template is new."""

    cache: tuple[str, ...]  # the template graph's outputs, the search graph's extra inputs
    cache_shapes: Callable[[str], dict[str, tuple[int, ...]]]  # per variant, batch 1
    template_graph: Callable[[object], object]  # loaded network -> module(template)
    search_graph: Callable[[object], object]  # loaded network -> module(search, *cache)


@dataclass(frozen=True)
class Family:
    """A tracker family: its variants (each with template/search sizes and factors), network
    inputs/outputs, how to build and prepare the network (torch, imported lazily by the
    callables) and how to wrap a runner into a Tracker.

    make_tracker(variant, runner, score_threshold, options) takes an instance of `options`, the
    family's options dataclass (trackers.options); `options_note` explains, when an option is
    refused, why the family has none of that kind."""

    name: str
    variants: dict[str, object]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    build_network: Callable[[str], object]
    make_tracker: Callable[[str, object, float, object], object]
    checkpoint_help: str
    options: type = NoOptions
    options_note: str = ""
    descriptions: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[object], object] = _eval  # for inference (HiT also folds BatchNorm)
    adapt_state_dict: Callable[[dict], dict] = _identity  # e.g. drop teacher keys
    torch_runtime: Callable[[object], object] = _identity  # wrapper for the torch backend only (caches)
    # Backend verification: realistic network inputs per variant, and the boxes read from outputs
    # (None: the STARK-lineage defaults of the factory, sample_target crops and pred_boxes).
    verification_feeds: Callable[[str], list[dict]] | None = None
    boxes_of: Callable[[dict], object] | None = None
    # Search sizes the tracker may feed besides the variant's search_size (exported as a dynamic
    # axis, a TensorRT optimization profile over them); empty: static shapes.
    search_sizes: tuple[int, ...] = ()
    # The network in a form with static weights only (for TensorRT), when the default form
    # computes convolution weights at run time; None: the default form has static weights.
    static_weight_form: Callable[[object], object] | None = None
    # Exported as two graphs (the template's half once per target) instead of one
    two_graphs: TwoGraphs | None = None

    def describe(self, variant: str) -> str:
        return self.descriptions.get(variant, f"{self.name} {variant}")
