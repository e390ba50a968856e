"""TensorRT engine cache and backend fallback, with a fake engine builder (no GPU needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from waiting import until

from hit_tracker_ros.backends.engine_cache import EngineCache, EngineKey, atomic_write
from hit_tracker_ros.backends.select import Candidate, select_backend
from hit_tracker_ros.core.boxes import iou_rows

KEY = EngineKey(
    onnx_sha256="a" * 64,
    tensorrt_version="10.3.0",
    gpu_name="Orin",
    compute_capability="8.7",
    precision="fp16",
    input_shapes={"search": [1, 3, 256, 256], "template": [1, 3, 128, 128]},
    builder_options={"workspace_mb": 0, "dla_core": -1},
)


class FakeBuilder:
    """Counts builds; an "engine" is bytes that load back into a tag."""

    def __init__(self) -> None:
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return b"ENGINE:" + str(self.builds).encode()

    @staticmethod
    def load(data: bytes):
        return data.decode() if data.startswith(b"ENGINE:") else None


def test_matching_engine_loads_without_rebuilding(tmp_path):
    cache, builder = EngineCache(tmp_path), FakeBuilder()
    loaded, entry = cache.get_or_build("hit_tiny.onnx", KEY, builder.build, builder.load)
    assert entry.rebuilt and entry.reason == "no cached engine" and loaded == "ENGINE:1"
    loaded, entry = cache.get_or_build("hit_tiny.onnx", KEY, builder.build, builder.load)
    assert not entry.rebuilt and entry.reason == "cache hit" and loaded == "ENGINE:1" and builder.builds == 1
    manifest = json.loads(entry.path.with_suffix(".json").read_text())
    assert manifest["key"]["gpu_name"] == "Orin" and manifest["engine_sha256"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("onnx_sha256", "b" * 64),
        ("tensorrt_version", "8.6.2"),
        ("gpu_name", "RTX 4090"),
        ("compute_capability", "8.9"),
        ("precision", "fp32"),
        ("input_shapes", {"search": [1, 3, 288, 288]}),
        ("builder_options", {"workspace_mb": 1024, "dla_core": 0}),
        ("recipe", 3),  # a fix to the build code invalidates the engines the old code built
    ],
)
def test_any_key_change_rebuilds_and_says_why(tmp_path, caplog, field, value):
    cache, builder = EngineCache(tmp_path), FakeBuilder()
    cache.get_or_build("m.onnx", KEY, builder.build, builder.load)
    other = replace(KEY, **{field: value})
    assert other.digest() != KEY.digest()
    with caplog.at_level("WARNING", logger="hit_tracker_ros.engines"):
        _, entry = cache.get_or_build("m.onnx", other, builder.build, builder.load)
    assert entry.rebuilt and builder.builds == 2
    assert field in entry.reason
    assert "this may take minutes" in caplog.text and field in caplog.text
    # both engines stay cached side by side (e.g. fp16 and fp32)
    assert cache.lookup("m.onnx", KEY)[1] == "cache hit" and cache.lookup("m.onnx", other)[1] == "cache hit"


def test_corrupt_or_unloadable_engine_is_rebuilt_not_fatal(tmp_path):
    cache, builder = EngineCache(tmp_path), FakeBuilder()
    _, entry = cache.get_or_build("m.onnx", KEY, builder.build, builder.load)
    entry.path.write_bytes(b"garbage")  # corrupted on disk
    loaded, entry = cache.get_or_build("m.onnx", KEY, builder.build, builder.load)
    assert entry.rebuilt and "does not match its manifest" in entry.reason and loaded == "ENGINE:2"
    # an engine whose bytes are intact but do not deserialize (e.g. another TensorRT build)
    loaded, entry = cache.get_or_build(
        "m.onnx", KEY, builder.build, lambda data: None if builder.builds < 3 else "ok"
    )
    assert entry.rebuilt and "failed to deserialize" in entry.reason and loaded == "ok"
    entry.path.with_suffix(".json").write_text("{not json")
    _, entry = cache.get_or_build("m.onnx", KEY, builder.build, builder.load)
    assert entry.rebuilt and "unreadable manifest" in entry.reason


def test_failed_build_leaves_nothing_behind(tmp_path):
    cache = EngineCache(tmp_path)

    def crash() -> bytes:
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        cache.get_or_build("m.onnx", KEY, crash, FakeBuilder.load)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_killed_writer_never_leaves_a_truncated_engine(tmp_path):
    """A process killed (SIGKILL) in the middle of writing an engine leaves no engine file."""
    target = tmp_path / "m.fp16.x.engine"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "import hit_tracker_ros.core.files as ec\n"
        "class Slow(bytes):\n"
        "    pass\n"
        "orig = ec.os.fsync\n"
        "def slow_fsync(fd):\n"
        "    Path(sys.argv[2]).write_text('writing')\n"
        "    time.sleep(30)  # time is the behaviour: killed in the middle of the write\n"
        "ec.os.fsync = slow_fsync\n"
        "ec.atomic_write(Path(sys.argv[1]), b'x' * 10_000_000)\n"
    )
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target), str(marker)], cwd=Path(__file__).parents[1]
    )
    until(marker.exists, 30, "the write to begin")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not target.exists()
    assert EngineCache(tmp_path).lookup("m", KEY)[0] is None
    atomic_write(target, b"complete")
    assert target.read_bytes() == b"complete"


def test_cache_listing(tmp_path):
    cache, builder = EngineCache(tmp_path), FakeBuilder()
    _, entry = cache.get_or_build("m.onnx", KEY, builder.build, builder.load)
    cache.record(entry.path, verification={"iou": 0.995, "max_box_diff": 0.002, "accepted": True})
    (listed,) = cache.entries()
    assert listed["verification"]["iou"] == 0.995 and listed["engine_present"]


class Runner:
    def __init__(self, name: str, shift: float = 0.0) -> None:
        self.backend, self.shift = name, shift

    def run(self, feed):
        return {"boxes": np.array([[0.2, 0.2, 0.6, 0.6]]) + self.shift}


def decode(outputs):
    return outputs["boxes"]


def test_fallback_picks_the_first_installed_and_verified_backend():
    chain = [
        Candidate("tensorrt-fp16", lambda: "tensorrt is not installed", lambda: Runner("trt")),
        Candidate("onnxruntime-cuda", lambda: None, lambda: Runner("ort-cuda", shift=0.2)),  # wrong boxes
        Candidate("torch-cuda", lambda: None, lambda: (_ for _ in ()).throw(RuntimeError("CUDA OOM"))),
        Candidate("onnxruntime", lambda: None, lambda: Runner("ort"), verify=False),
        Candidate("torch", lambda: None, lambda: Runner("torch"), verify=False),
    ]
    verified = []
    selection = select_backend(
        chain,
        lambda: Runner("reference"),
        [{}],
        decode,
        0.98,
        lambda name, runner, v, ok: verified.append((name, ok)),
    )
    assert selection.name == "onnxruntime" and selection.runner.backend == "ort"
    assert selection.skipped[0] == "tensorrt-fp16: tensorrt is not installed"
    assert selection.skipped[1].startswith("onnxruntime-cuda: refused, verification IoU")
    assert "failed to start (CUDA OOM)" in selection.skipped[2]
    assert verified == [("onnxruntime-cuda", False)]


def test_verified_accelerator_is_chosen_and_reports_its_iou():
    chain = [Candidate("tensorrt-fp16", lambda: None, lambda: Runner("trt", shift=0.001))]
    selection = select_backend(chain, lambda: Runner("reference"), [{}, {}], decode, 0.98)
    assert selection.name == "tensorrt-fp16" and 0.98 <= selection.verification["iou"] < 1.0
    with pytest.raises(RuntimeError, match="no usable backend: tensorrt-fp16: refused"):
        select_backend(chain, lambda: Runner("reference"), [{}], decode, 0.9999)


def test_tiny_boxes_are_verified_by_their_coordinates():
    """IoU is ill-conditioned for near-zero boxes: coordinates within BOX_DIFF_TOLERANCE pass."""

    class Tiny(Runner):
        def run(self, feed):
            return {"boxes": np.array([[0.5, 0.5, 0.5002, 0.5001]]) + self.shift}

    chain = [Candidate("torch-cuda", lambda: None, lambda: Tiny("cuda", shift=2.5e-5))]
    selection = select_backend(chain, lambda: Tiny("reference"), [{}], decode, 0.98)
    assert selection.name == "torch-cuda" and selection.verification["iou"] < 0.98
    chain = [Candidate("torch-cuda", lambda: None, lambda: Tiny("cuda", shift=1e-3))]
    with pytest.raises(RuntimeError, match="max box diff 0.001 > 0.0002"):
        select_backend(chain, lambda: Tiny("reference"), [{}], decode, 0.98)


def test_box_iou_handles_flipped_and_degenerate_boxes():
    a = np.array([[0.0, 0, 1, 1], [1, 1, 0, 0], [0.5, 0.5, 0.5, 0.5]])
    b = np.array([[0.0, 0, 1, 1], [0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_allclose(iou_rows(a, b), [1.0, 1.0, 1.0])
    assert iou_rows(np.array([[0.0, 0, 0, 0]]), np.array([[1.0, 1, 1, 1]]))[0] == 0.0


def test_hit_auto_chain_on_this_machine(tmp_path):
    """Without TensorRT/CUDA the chain ends on the fastest CPU runtime and says why it skipped the
    GPU ones and how fast each CPU one was."""
    pytest.importorskip("torch")
    import torch

    from hit_tracker_ros import build_tracker
    from hit_tracker_ros.models.hit import build_hit

    if torch.cuda.is_available():
        pytest.skip("this test describes a machine without CUDA")
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pth"
    torch.save(build_hit("hit_tiny").state_dict(), checkpoint)
    tracker = build_tracker("hit_tiny", checkpoint=checkpoint, engine_cache_dir=str(tmp_path / "engines"))
    assert tracker.backend.startswith(("onnxruntime", "openvino", "torch"))
    report = tracker.backend_info["backend_selection"]
    assert "measured per call: " in report and "is the fastest" in report
    assert "tensorrt-fp16: tensorrt is not installed" in report or "tensorrt-fp16: no CUDA device" in report
    assert "onnxruntime-tensorrt-fp16: TensorrtExecutionProvider not in this onnxruntime" in report
    assert "onnxruntime-tensorrt-fp32: TensorrtExecutionProvider not in this onnxruntime" in report
    assert "torch-cuda-graph: no CUDA device" in report and "torch-cuda: no CUDA device" in report
