"""The CUDA-graph torch backend as far as a machine without CUDA can test it: everything around
the graphs (one graph set per input shape set, re-capture on a new shape, the template half
replayed only when the template changes, the families' template/search split, the check against
eager) runs with EagerGraphs, which replays by re-running the captured function on the same static
tensors. The graphs themselves run in test_gpu_torch.py where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hit_tracker_ros.backends.torch_graphs import CudaGraphRunner, EagerGraphs, TemplateCached
from hit_tracker_ros.backends.torch_runner import TorchRunner
from hit_tracker_ros.trackers.network import family_of, input_sides

MODELS = ("hit_tiny", "mixformerv2_s", "compresstracker_2", "ettrack")


def runtime_network(model: str):
    """The torch backend's form of the network (BatchNorm folded, template caches), seeded weights."""
    family = family_of(model)
    torch.manual_seed(0)
    return family.torch_runtime(family.prepare(family.build_network(model)))


def feeds(model: str, n: int, search_side: int | None = None, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """n frames: the template inputs fixed, the search input new each frame."""
    family = family_of(model)
    rng = np.random.default_rng(seed)
    sides = input_sides(family, model)
    fixed = {
        k: rng.standard_normal((1, 3, s, s)).astype(np.float32) for k, s in sides.items() if k != "search"
    }
    side = search_side or sides["search"]
    return [{**fixed, "search": rng.standard_normal((1, 3, side, side)).astype(np.float32)} for _ in range(n)]


def runners(model: str):
    family = family_of(model)
    graphed = CudaGraphRunner(
        runtime_network(model), family.inputs, family.outputs, "cpu", graphs=EagerGraphs()
    )
    eager = TorchRunner(runtime_network(model), family.inputs, family.outputs)
    return graphed, eager


def assert_same(a: dict, b: dict) -> None:
    for name in b:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("model", MODELS)
def test_graph_runner_gives_the_eager_outputs(model):
    graphed, eager = runners(model)
    frames = feeds(model, 3) + feeds(model, 2, seed=1)  # the template changes at frame 3
    for feed in frames:
        assert_same(graphed.run(feed), eager.run(feed))
    assert graphed.captures == 1
    split = isinstance(graphed.net, TemplateCached)
    assert split == (model in ("mixformerv2_s", "ettrack"))  # the families that cache their template
    assert graphed.template_encodes == (1 if split else 0)  # only the change re-ran the template half
    assert graphed.backend == "torch-cuda-graph"


def test_ettrack_keeps_one_graph_set_per_search_size():
    graphed, eager = runners("ettrack")
    sequence = feeds("ettrack", 2) + feeds("ettrack", 2, search_side=288) + feeds("ettrack", 1)
    for feed in sequence:
        assert_same(graphed.run(feed), eager.run(feed))
    assert graphed.captures == 2  # 256 and 288: captured once each, the 256 set reused
    assert len(graphed._sets) == 2


def test_template_split_equals_the_cached_forward():
    """encode_templates + track (what the graphs capture) is the forward the torch backend runs."""
    for model in ("mixformerv2_s", "ettrack"):
        net = runtime_network(model)
        feed = {k: torch.from_numpy(v) for k, v in feeds(model, 1)[0].items()}
        names = family_of(model).inputs
        with torch.no_grad():
            whole = net(*(feed[n] for n in names))
            features = net.encode_templates(*(feed[n] for n in net.template_inputs))
            split = net.track(features, feed["search"])
        for a, b in zip(whole, split, strict=True):
            torch.testing.assert_close(a, b)


def test_a_graph_that_disagrees_with_eager_is_refused():
    class Flaky(EagerGraphs):
        def capture(self, fn):
            replay, outputs, eager = super().capture(fn)
            return replay, tuple(o + 1.0 for o in outputs), eager

    family = family_of("hit_tiny")
    runner = CudaGraphRunner(
        runtime_network("hit_tiny"), family.inputs, family.outputs, "cpu", graphs=Flaky()
    )
    with pytest.raises(RuntimeError, match="differs from eager"):
        runner.run(feeds("hit_tiny", 1)[0])


def test_without_cuda_the_graph_backend_says_why(tmp_path):
    from hit_tracker_ros import build_tracker

    if torch.cuda.is_available():
        pytest.skip("this test describes a machine without CUDA")
    checkpoint = tmp_path / "tiny.pth"
    torch.manual_seed(0)
    torch.save(family_of("hit_tiny").build_network("hit_tiny").state_dict(), checkpoint)
    with pytest.raises(RuntimeError, match="torch-cuda-graph: no CUDA device"):
        build_tracker("hit_tiny", checkpoint=checkpoint, backend="torch-cuda-graph")
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device"):
        CudaGraphRunner(runtime_network("hit_tiny"), ("template", "search"), ("pred_boxes",), "cuda")
