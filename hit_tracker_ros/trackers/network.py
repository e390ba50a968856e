"""Network trackers from a family: checkpoint loading, ONNX export, the NetworkSpec that backend
selection works from, and the registry entries of every variant.

Conventions generic code relies on (no family names here): a network's input named `search` is
the search crop, every other input is a template-sized crop; `pred_boxes` (cx, cy, w, h in
fractions of the search crop) are the boxes verification compares, unless the family says how to
read its boxes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..backends.build import NetworkSpec, build_runner, onnx_path, write_export_meta
from ..core.boxes import cxcywh_to_xyxy
from ..core.registry import ModelSpec, model_spec, register_model
from ..core.tracker import DEFAULT_SCORE_THRESHOLD, Tracker
from .family import Family
from .options import split_options

BACKENDS = ("tensorrt", "onnxruntime", "openvino", "torch")


def load_network(family: Family, variant: str, checkpoint: str | Path):
    """The network with the checkpoint loaded strictly, prepared for inference (eval mode)."""
    from ..models.checkpoint import load_state_dict_strict, read_checkpoint

    net = family.build_network(variant)
    state_dict = family.adapt_state_dict(read_checkpoint(checkpoint))
    load_state_dict_strict(net, state_dict, str(checkpoint))
    return family.prepare(net)


def input_sides(family: Family, variant: str) -> dict[str, int]:
    """Side of each (square) network input: the search size for `search`, else the template size."""
    c = family.variants[variant]
    return {name: c.search_size if name == "search" else c.template_size for name in family.inputs}


def example_inputs(family: Family, variant: str) -> dict[str, np.ndarray]:
    """Fixed inputs (seeded) of the network's static shapes, for export."""
    rng = np.random.default_rng(0)
    return {
        name: rng.standard_normal((1, 3, side, side)).astype(np.float32)
        for name, side in input_sides(family, variant).items()
    }


def batchable(family: Family, static_weights: bool) -> bool:
    """Whether this form of the network can run batches: all but E.T.Track's default form, which
    convolves each image with its own computed kernel (a grouped convolution whose group count
    would follow the batch; ONNX fixes it)."""
    return static_weights or family.static_weight_form is None


def dynamic_axes(family: Family, batch: bool) -> dict[str, dict[int, str]] | None:
    """ONNX dynamic axes: the batch (several targets, re-acquisition windows), and the search
    crop's side (and the maps it gives) for families whose tracker switches search sizes."""
    names = (*family.inputs, *family.outputs)
    axes: dict[str, dict[int, str]] = {name: ({0: "batch"} if batch else {}) for name in names}
    if family.search_sizes:
        axes["search"].update({2: "search_size", 3: "search_size"})
        for name in family.outputs:
            axes[name].update({2: "map_size", 3: "map_size"})
    axes = {name: a for name, a in axes.items() if a}
    return axes or None


def tensorrt_profile(family: Family, variant: str) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """The family's own dynamic axes for TensorRT (min, opt, max shapes of a dynamic search input);
    empty for static families. backends.build adds the batch range."""
    if not family.search_sizes:
        return {}
    sizes = sorted(family.search_sizes)
    default = family.variants[variant].search_size
    shapes = [[1, 3, s, s] for s in (sizes[0], default, sizes[-1])]
    return {"search": (shapes[0], shapes[1], shapes[2])}


def _export(family: Family, variant: str, checkpoint: Path, out: Path, static_weights: bool) -> dict:
    from ..backends.export import export_onnx, verify_onnx

    net = load_network(family, variant, checkpoint)
    if static_weights and family.static_weight_form is not None:
        net = family.static_weight_form(net)
    example = example_inputs(family, variant)
    export_onnx(net, example, family.outputs, out, dynamic_axes(family, batchable(family, static_weights)))
    return verify_onnx(net, out, example, family.outputs)


def _export_graph(family: Family, variant: str, checkpoint: Path, out: Path, graph: str) -> dict:
    """One graph of a two-graph family ("template" or "search"), batch axis dynamic, verified
    against the same half in PyTorch on the example template (and its cache)."""
    import torch

    from ..backends.export import export_onnx, verify_onnx

    two = family.two_graphs
    net = load_network(family, variant, checkpoint)
    template_half = two.template_graph(net)
    example = example_inputs(family, variant)
    if graph == "template":
        module, feeds, outputs = template_half, {"template": example["template"]}, two.cache
    else:
        with torch.no_grad():
            cache = template_half(torch.from_numpy(example["template"]))
        feeds = {"search": example["search"], **{n: c.numpy() for n, c in zip(two.cache, cache, strict=True)}}
        module, outputs = two.search_graph(net), family.outputs
    export_onnx(module, feeds, outputs, out, {name: {0: "batch"} for name in (*feeds, *outputs)})
    return verify_onnx(module, out, feeds, outputs)


def graph_files(family: Family, out: Path) -> list[Path]:
    """The ONNX files an export to `out` writes: `out` itself, or for a two-graph family
    `<out>.template.onnx` and `<out>.search.onnx` (out without its .onnx)."""
    if family.two_graphs is None:
        return [out]
    stem = out.with_suffix("") if out.suffix == ".onnx" else out
    return [stem.with_name(f"{stem.name}.{graph}.onnx") for graph in ("template", "search")]


def export_model(
    family: Family,
    variant: str,
    checkpoint: str | Path,
    out: str | Path | None = None,
    static_weights: bool = False,
) -> tuple[Path, dict[str, float]]:
    """Export to ONNX (default: next to the checkpoint), verify against PyTorch; (path, max diffs).
    static_weights: the family's static-weight form (for TensorRT), where it has one. A two-graph
    family writes graph_files(out) and returns the search graph's path and both graphs' diffs."""
    checkpoint = Path(checkpoint)
    out = Path(out) if out else onnx_path(checkpoint, variant, static_weights)
    if family.two_graphs is not None:
        diffs: dict[str, float] = {}
        for graph, path in zip(("template", "search"), graph_files(family, out), strict=True):
            graph_diffs = _export_graph(family, variant, checkpoint, path, graph)
            write_export_meta(path, f"{variant}.{graph}", checkpoint, False, graph_diffs)
            diffs.update(graph_diffs)
        return path, diffs
    diffs = _export(family, variant, checkpoint, out, static_weights)
    write_export_meta(out, variant, checkpoint, static_weights, diffs)
    return out, diffs


def verification_inputs(family: Family, variant: str) -> list[dict]:
    """Realistic fixed inputs for verifying a backend: template/search crops of the synthetic
    scene made by the real pipeline (random noise would give degenerate boxes)."""
    if family.verification_feeds is not None:
        return family.verification_feeds(variant)
    from ..core.synthetic import SyntheticScene
    from .crop import normalize, sample_target

    c = family.variants[variant]
    scene = SyntheticScene()
    template = normalize(sample_target(scene.frame(0), scene.truth(0), c.template_factor, c.template_size)[0])
    feeds = []
    for i in (1, 20, 40):
        search, _ = sample_target(scene.frame(i), scene.truth(i - 1), c.search_factor, c.search_size)
        feeds.append({name: normalize(search) if name == "search" else template for name in family.inputs})
    return feeds


def decode_boxes(outputs: dict) -> np.ndarray:
    """pred_boxes (cx, cy, w, h) -> (N, 4) corners, for backend verification."""
    return cxcywh_to_xyxy(outputs["pred_boxes"])


def network_spec(family: Family, variant: str, checkpoint: Path) -> NetworkSpec:
    whole = NetworkSpec(
        name=variant,
        checkpoint=checkpoint,
        input_shapes={name: (1, 3, side, side) for name, side in input_sides(family, variant).items()},
        outputs=family.outputs,
        export=lambda out, static: _export(family, variant, checkpoint, out, static),
        torch_network=lambda: family.torch_runtime(load_network(family, variant, checkpoint)),
        verification_inputs=lambda: verification_inputs(family, variant),
        boxes_of=family.boxes_of or decode_boxes,
        tensorrt_profile=tensorrt_profile(family, variant),
        has_static_weight_form=family.static_weight_form is not None,
        search_sizes=tuple(sorted(family.search_sizes)),
    )
    if family.two_graphs is None:
        return whole
    return replace(
        whole, graphs=tuple(_graph_spec(family, variant, whole, g) for g in ("template", "search"))
    )


def _graph_spec(family: Family, variant: str, whole: NetworkSpec, graph: str) -> NetworkSpec:
    """One graph of a two-graph family as the ONNX runtimes see it (its name names its export)."""
    two = family.two_graphs
    if graph == "template":
        shapes, outputs = {"template": whole.input_shapes["template"]}, two.cache
    else:
        shapes, outputs = (
            {"search": whole.input_shapes["search"], **two.cache_shapes(variant)},
            family.outputs,
        )
    return replace(
        whole,
        name=f"{variant}.{graph}",
        input_shapes=shapes,
        outputs=outputs,
        export=lambda out, _static: _export_graph(family, variant, whole.checkpoint, out, graph),
    )


def build_network_tracker(
    family: Family,
    variant: str,
    checkpoint: str | Path | None,
    backend: str = "auto",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    **options,
) -> Tracker:
    """checkpoint: the authors' .pth(.tar) or a bare state dict, or an exported .onnx.
    options: the family's tracker options and the BackendOptions (see trackers.options)."""
    backend_options, tracker_options = split_options(variant, options, family.options, family.options_note)
    if not checkpoint:
        raise ValueError(f"{variant} needs a checkpoint. {family.checkpoint_help}")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found. {family.checkpoint_help}")
    if family.two_graphs is not None and path.suffix == ".onnx":
        raise ValueError(
            f"{variant} runs as two ONNX graphs made from the authors' checkpoint (and cached beside "
            f"it): pass the .pth/.pth.tar checkpoint, not {path.name}. {family.checkpoint_help}"
        )
    selection = build_runner(network_spec(family, variant, path), backend, backend_options)
    tracker = family.make_tracker(variant, selection.runner, score_threshold, tracker_options)
    tracker.backend_info = {**selection.info(), "preprocess": use_device_crops(tracker, backend_options)}
    return tracker


def use_device_crops(tracker, options) -> str:
    """Let `tracker` crop on its backend's GPU when allowed and when the device's crops agree with
    the CPU's (backends.device_crops); says where it crops and why (diagnostics)."""
    device = getattr(tracker.runner, "input_device", None)
    if device is None or not str(device).startswith("cuda"):
        return "cpu"
    if not options.gpu_preprocess:
        return "cpu (gpu_preprocess is off)"
    try:  # ONNX Runtime's GPU providers may run where torch has no CUDA (or no torch at all)
        from ..backends.device_crops import MAX_CROP_DIFF, DeviceCrops, crop_difference

        crops = DeviceCrops(device)
        difference = crop_difference(crops)
    except Exception as exc:  # noqa: BLE001 - the CPU crop always works
        return f"cpu (GPU crops unavailable: {exc})"
    if difference > MAX_CROP_DIFF:
        return f"cpu (the GPU crop differs from the CPU crop by {difference} grey levels > {MAX_CROP_DIFF})"
    tracker.crops = crops
    return f"{device} (at most {difference} grey level from the CPU crop)"


def register_family(family: Family) -> None:
    """A registry entry for every variant of `family` (called by each family's module)."""
    for variant in family.variants:

        def factory(checkpoint=None, backend="auto", _variant=variant, **params):
            return build_network_tracker(family, _variant, checkpoint, backend, **params)

        register_model(ModelSpec(variant, factory, family.describe(variant), BACKENDS, True, family))


def family_of(model: str) -> Family:
    """The network family of a registered model name (e.g. hit_tiny -> HiT)."""
    family = model_spec(model).family
    if family is None:
        raise ValueError(f"'{model}' is not a network model")
    return family
