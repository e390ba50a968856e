"""TensorRT optimization profiles, for TensorRT itself and for ONNX Runtime's TensorRT EP: one
rule for both, so that the two build engines for the same shapes.

* Only dimensions that are dynamic (-1) in the network vary. A fixed dimension takes its value in
  min, opt and max (a user's own static `.onnx` with max_batch > 1: TensorRT refuses a profile that
  varies a fixed dimension), and an input without a dynamic dimension gets no entry (both need
  entries for the dynamic inputs only).
* The DLA runs static shapes only (min = opt = max); with a dynamic profile TensorRT's GPU
  fallback silently runs the whole "DLA engine" on the GPU. A DLA profile is batch 1 at the
  optimum shape (several targets then run one after another), and a network whose other
  dimensions vary (E.T.Track's two search sizes) is refused with the reason.
* ONNX Runtime without an explicit profile builds one from the shapes it has seen and rebuilds the
  engine, inside the tracking loop, whenever a batch size or search size leaves that range
  (minutes on a Jetson): it gets the same profile as TensorRT through `trt_profile_*_shapes`.
"""

from __future__ import annotations

from pathlib import Path

Shape = list[int]
Profile = dict[str, tuple[Shape, Shape, Shape]]


def fit_profile(profile: Profile, dims: dict[str, list[int]]) -> Profile:
    """`profile` restricted to the dimensions that are -1 in `dims` (the network's inputs);
    ValueError when a dynamic input has no entry or a rank differs."""
    fitted: Profile = {}
    for name, shape in dims.items():
        if all(d >= 0 for d in shape):
            continue
        if name not in profile:
            raise ValueError(f"input {name} has dynamic dimensions {shape} but no optimization profile")
        bounds = profile[name]
        if any(len(b) != len(shape) for b in bounds):
            raise ValueError(f"the profile of {name} has rank {len(bounds[0])}, the network's input {shape}")
        low, opt, high = ([d if d >= 0 else int(v) for d, v in zip(shape, b, strict=True)] for b in bounds)
        fitted[name] = (low, opt, high)
    return fitted


def is_static(profile: Profile) -> bool:
    return all(low == opt == high for low, opt, high in profile.values())


def dla_profile(profile: Profile, network: str) -> Profile:
    """The static batch-1 profile the DLA can run, or ValueError saying why there is none."""
    varying = {
        name: (low[1:], high[1:])
        for name, (low, _, high) in profile.items()
        if list(low[1:]) != list(high[1:])
    }
    if varying:
        detail = ", ".join(f"{n} {list(lo)}..{list(hi)}" for n, (lo, hi) in varying.items())
        raise ValueError(
            f"the DLA runs static shapes only, and {network} varies input shapes ({detail}; E.T.Track "
            "switches between 256 and 288 px searches): use the GPU (trt_dla_core -1)"
        )
    return {name: ([1, *opt[1:]],) * 3 for name, (_, opt, _) in profile.items()}  # type: ignore[misc]


def ort_profile_options(profile: Profile) -> dict[str, str]:
    """ONNX Runtime TensorRT EP options `trt_profile_{min,opt,max}_shapes` ("name:1x3x256x256,...")."""
    if not profile:
        return {}
    out = {}
    for index, key in enumerate(
        ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
    ):
        out[key] = ",".join(
            f"{name}:{'x'.join(str(d) for d in bounds[index])}" for name, bounds in profile.items()
        )
    return out


def onnx_input_dims(path: str | Path) -> dict[str, list[int]]:
    """The ONNX graph's inputs and their dimensions, -1 where a dimension is symbolic or unknown."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    dims = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = value.type.tensor_type.shape.dim
        dims[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in shape]
    return dims
