"""The CUDA-graph torch backend on a machine without CUDA: the real CudaGraphs / CudaGraphRunner
code runs against test/fake_cuda.py, a stand-in of torch.cuda's capture API that records the
captured aten ops, replays them, leaves captured tensors undefined until the first replay and
models what graphs sharing a memory pool may do to each other. The graphs themselves run on a GPU
in test_gpu_torch.py (scripts/gpu-check)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from fake_cuda import FakeCuda, FakeGraph

from hit_tracker_ros.backends.build import NetworkSpec, graph_capture_feeds
from hit_tracker_ros.backends.torch_graphs import CAPTURE_MODE, CudaGraphRunner, TemplateCached
from hit_tracker_ros.backends.torch_runner import TorchRunner
from hit_tracker_ros.trackers.network import family_of, input_sides

MODELS = ("hit_tiny", "mixformerv2_s", "compresstracker_2", "ettrack", "asymtrack_tiny")
CACHING = ("mixformerv2_s", "ettrack", "asymtrack_tiny")  # the families that cache their template


def runtime_network(model: str):
    """The torch backend's form of the network (BatchNorm folded, template caches), seeded weights."""
    family = family_of(model)
    torch.manual_seed(0)
    return family.torch_runtime(family.prepare(family.build_network(model)))


def feeds(
    model: str, n: int, search_side: int | None = None, seed: int = 0, batch: int = 1
) -> list[dict[str, np.ndarray]]:
    """n frames of `batch` rows: the template inputs fixed (seeded), the search input new each frame."""
    family = family_of(model)
    rng = np.random.default_rng(seed)
    sides = input_sides(family, model)
    fixed = {
        k: np.repeat(rng.standard_normal((1, 3, s, s)).astype(np.float32), batch, axis=0)
        for k, s in sides.items()
        if k != "search"
    }
    side = search_side or sides["search"]
    return [
        {**fixed, "search": rng.standard_normal((batch, 3, side, side)).astype(np.float32)} for _ in range(n)
    ]


def runners(model: str, cuda: FakeCuda | None = None, expected=()):
    family = family_of(model)
    graphed = CudaGraphRunner(
        runtime_network(model),
        family.inputs,
        family.outputs,
        "cpu",
        cuda=cuda or FakeCuda(),
        expected=expected,
    )
    eager = TorchRunner(runtime_network(model), family.inputs, family.outputs)
    return graphed, eager


def assert_same(a: dict, b: dict, what: str = "") -> None:
    for name in b:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=f"{what} {name}")


@pytest.mark.parametrize("model", MODELS)
def test_graph_runner_gives_the_eager_outputs(model):
    graphed, eager = runners(model)
    frames = feeds(model, 3) + feeds(model, 2, seed=1)  # the template changes at frame 3
    for feed in frames:
        assert_same(graphed.run(feed), eager.run(feed))
    assert graphed.captures == 1
    split = isinstance(graphed.net, TemplateCached)
    assert split == (model in CACHING)
    assert graphed.template_encodes == (1 if split else 0)  # only the change re-ran the template half
    assert graphed.backend == "torch-cuda-graph"


def test_ettrack_keeps_one_graph_set_per_search_size():
    graphed, eager = runners("ettrack")
    sequence = feeds("ettrack", 2) + feeds("ettrack", 2, search_side=288) + feeds("ettrack", 1)
    for feed in sequence:
        assert_same(graphed.run(feed), eager.run(feed))
    assert graphed.captures == 2  # 256 and 288: captured once each, the 256 set reused
    assert len(graphed._sets) == 2


class CachedTemplateNet(torch.nn.Module):
    """A small network with a template half (TemplateCached, as MixFormerV2 and E.T.Track) whose
    search input may take several sizes: the graph runner's bookkeeping at a test's cost."""

    template_inputs = ("template",)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.z = torch.nn.Conv2d(3, 8, 3)
        self.x = torch.nn.Conv2d(3, 8, 3)

    def encode_templates(self, template):
        return (self.z(template).mean(dim=(2, 3)),)

    def track(self, features, search):
        x = self.x(search)
        return ((x * features[0][:, :, None, None]).mean(dim=1, keepdim=True),)

    def forward(self, template, search):
        return self.track(self.encode_templates(template), search)


def cached_runners(cuda: FakeCuda):
    graphed = CudaGraphRunner(CachedTemplateNet(), ("template", "search"), ("out",), "cpu", cuda=cuda)
    return graphed, TorchRunner(CachedTemplateNet(), ("template", "search"), ("out",))


def test_shape_and_batch_alternation_with_a_fixed_template_equals_eager_on_every_frame():
    """Defect 2 of issue 18: with one memory pool for every graph set, a set captured later could
    hold its live template features in an earlier set's scratch memory, and replaying the earlier
    set overwrote them; the later set, whose template had not changed, then read corrupted
    features. Each set has its own pool now. (The real families' graphs equal eager above.)"""
    graphed, eager = cached_runners(FakeCuda())
    rng = np.random.default_rng(3)
    template = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    for _ in range(2):
        for side in (16, 18):  # as E.T.Track's 256 and 288 px searches
            for batch in (1, 2, 4):
                feed = {
                    "template": template[:batch],
                    "search": rng.standard_normal((batch, 3, side, side)).astype(np.float32),
                }
                assert_same(graphed.run(feed), eager.run(feed), f"side {side} batch {batch}")
    sets = list(graphed._sets.values())
    assert len(sets) == 6 and graphed.template_encodes == 0  # the template never changed
    pools = [s.track.graph.pool() for s in sets]
    assert len({id(p) for p in pools}) == len(sets)  # a pool per set
    assert all(s.encode.graph.pool() is s.track.graph.pool() for s in sets)  # shared within a set


def test_one_shared_pool_would_corrupt_the_features_this_stand_in_detects_it():
    """The stand-in's model of a shared pool is what makes the test above meaningful: capturing
    every set into one pool (the old code) gives NaN features after an alternation."""

    class SharedPool(FakeCuda):
        def __init__(self) -> None:
            super().__init__()
            self.shared = object()

        def graph_pool_handle(self):
            return self.shared

    graphed, _ = cached_runners(SharedPool())
    template = np.ones((1, 3, 8, 8), np.float32)
    first = {"template": template, "search": np.ones((1, 3, 16, 16), np.float32)}
    second = {"template": template, "search": np.ones((1, 3, 18, 18), np.float32)}
    graphed.run(first)
    graphed.run(second)
    graphed.run(first)  # replays the first set, whose scratch holds the second set's features
    assert np.isnan(graphed.run(second)["out"]).all()


def test_capture_happens_at_build_for_every_expected_shape_with_a_thread_local_mode(tmp_path):
    """Defect 6: capture synchronizes the device and runs warm-ups; in the tracking loop it would
    stall a frame, and the default global capture mode makes other threads' CUDA calls fail
    meanwhile. The batches tracking uses (powers of two up to max_batch) and each search size
    (E.T.Track's two) are captured when the runner is built, thread-locally."""
    rng = np.random.default_rng(0)
    spec = NetworkSpec(
        name="cached",
        checkpoint=tmp_path / "none.pth",
        input_shapes={"template": (1, 3, 8, 8), "search": (1, 3, 16, 16)},
        outputs=("out",),
        export=lambda out, static: {},
        torch_network=CachedTemplateNet,
        verification_inputs=lambda: [
            {
                n: rng.standard_normal(s).astype(np.float32)
                for n, s in (("template", (1, 3, 8, 8)), ("search", (1, 3, 16, 16)))
            }
        ],
        boxes_of=lambda out: out,
        search_sizes=(16, 18),
    )
    assert [f["search"].shape[0] for f in graph_capture_feeds(spec, max_batch=5)] == [1, 2, 4, 8] * 2
    expected = graph_capture_feeds(spec, max_batch=3)
    shapes = sorted((f["search"].shape[0], f["search"].shape[-1]) for f in expected)
    assert shapes == [(b, s) for b in (1, 2, 4) for s in (16, 18)]
    cuda = FakeCuda()
    graphed = CudaGraphRunner(
        CachedTemplateNet(), ("template", "search"), ("out",), "cpu", cuda=cuda, expected=expected
    )
    eager = TorchRunner(CachedTemplateNet(), ("template", "search"), ("out",))
    assert graphed.captures == graphed.captured_at_build == 6
    assert set(cuda.capture_modes) == {CAPTURE_MODE} == {"thread_local"}
    for batch in (1, 3):  # 3 is padded to 4: no capture while tracking
        for side in (16, 18):
            feed = {
                "template": rng.standard_normal((batch, 3, 8, 8)).astype(np.float32),
                "search": rng.standard_normal((batch, 3, side, side)).astype(np.float32),
            }
            assert_same(graphed.run(feed), eager.run(feed))
    assert graphed.captures == 6


def test_an_evicted_graph_set_releases_its_graphs():
    """Defect 7: evicted sets used to stay referenced (and their memory pools with them)."""
    cuda = FakeCuda()
    graphed, _ = runners("hit_tiny", cuda)
    graphed.capacity = 2
    for batch in (1, 2, 4):
        graphed.run(feeds("hit_tiny", 1, batch=batch)[0])
    gc.collect()
    assert len(graphed._sets) == 2
    assert cuda.live_graphs() == 2  # the batch-1 set's graph is gone


def test_template_split_equals_the_cached_forward():
    """encode_templates + track (what the graphs capture) is the forward the torch backend runs."""
    for model in CACHING:
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
    class Flaky(FakeGraph):
        def replay(self) -> None:
            super().replay()
            for tensor in self.made:
                if tensor.is_floating_point():
                    tensor.add_(1.0)

    cuda = FakeCuda()
    cuda.CUDAGraph = lambda: Flaky(cuda)
    with pytest.raises(RuntimeError, match="differs from eager"):
        runners("hit_tiny", cuda)[0].run(feeds("hit_tiny", 1)[0])


def test_a_host_sync_inside_capture_fails_as_on_a_gpu():
    class Syncs(torch.nn.Module):
        def forward(self, template, search):
            return (search * float(template.mean()),)  # .item(): not allowed while capturing

    runner = CudaGraphRunner(Syncs(), ("template", "search"), ("out",), "cpu", cuda=FakeCuda())
    with pytest.raises(RuntimeError, match="operation not permitted when stream is capturing"):
        runner.run(
            {"template": np.ones((1, 3, 2, 2), np.float32), "search": np.ones((1, 3, 4, 4), np.float32)}
        )


def test_device_tensor_inputs_are_copied_in_without_the_host():
    """GPU preprocessing hands device tensors over (here CPU tensors): same outputs as arrays,
    and the template change is detected on the device."""
    graphed, eager = runners("mixformerv2_s")
    frames = feeds("mixformerv2_s", 2) + feeds("mixformerv2_s", 2, seed=1)
    for feed in frames:
        as_tensors = {k: torch.from_numpy(v.copy()) for k, v in feed.items()}
        assert_same(graphed.run(as_tensors), eager.run(feed))
    assert graphed.captures == 1 and graphed.template_encodes == 1


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
