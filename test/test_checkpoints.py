"""Safe checkpoint loading: no pickled code runs; clear errors for files that do not fit."""

from __future__ import annotations

import os
import pickle
import subprocess
import zipfile

import pytest
import torch

from hit_tracker_ros import build_tracker
from hit_tracker_ros.models.checkpoint import CheckpointError, load_state_dict_strict, read_checkpoint


class SystemExploit:
    """Pickles to a call of os.system: executing the pickle would create the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class SubprocessExploit(SystemExploit):
    """The same through subprocess.call (a module PyTorch does not block by name)."""

    def __reduce__(self):
        return (subprocess.call, (["touch", self.marker],))


def test_malicious_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    torch.save({"net": {"w": torch.ones(3)}, "settings": SystemExploit(str(marker)), "epoch": 7}, path)
    assert "system" in str(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(path)  # os/posix globals are refused outright
    assert not marker.exists(), "pickled code was executed"

    path = tmp_path / "evil2.pth.tar"
    torch.save({"net": {"w": torch.ones(3)}, "settings": SubprocessExploit(str(marker))}, path)
    sd = read_checkpoint(path)  # the call becomes an inert stand-in; the tensors load
    assert not marker.exists(), "pickled code was executed"
    assert torch.equal(sd["w"], torch.ones(3))


def test_malicious_pickle_inside_a_state_dict_is_not_a_state_dict(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "x": SubprocessExploit(str(marker))}, path)
    with pytest.raises(CheckpointError, match="no state dict"):
        read_checkpoint(path)
    assert not marker.exists()


def test_bare_state_dict_and_dataparallel_prefix(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({"module.a": torch.zeros(2), "module.b": torch.ones(1)}, path)
    assert set(read_checkpoint(path)) == {"a", "b"}


def test_unreadable_and_legacy_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pth")
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"net": {}}))
    with pytest.raises(CheckpointError, match="not a PyTorch zip checkpoint"):
        read_checkpoint(legacy)
    broken = tmp_path / "broken.pth"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(broken)


def test_missing_unexpected_and_misshaped_keys_are_reported():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    sd = {"0.weight": torch.zeros(3, 3), "extra.bias": torch.zeros(1)}
    with pytest.raises(CheckpointError) as err:
        load_state_dict_strict(net, sd, "demo.pth")
    text = str(err.value)
    assert "missing (1): 0.bias" in text and "unexpected (1): extra.bias" in text
    assert "0.weight: (3, 3) vs (3, 2)" in text


def test_missing_checkpoint_says_where_to_get_it(tmp_path):
    with pytest.raises(ValueError, match="github.com/kangben258/HiT"):
        build_tracker("hit_tiny")
    with pytest.raises(FileNotFoundError, match="Google Drive"):
        build_tracker("hit_tiny", checkpoint=tmp_path / "HiT_Tiny.pth.tar")
