"""PyTorch backend: CPU, or CUDA (optionally fp16) where available."""

from __future__ import annotations

import numpy as np
import torch

UNLIMITED_BATCH = 1 << 16  # PyTorch modules take any batch


class TorchRunner:
    """Runs an nn.Module whose forward takes the inputs positionally and returns a tuple."""

    def __init__(
        self,
        net: torch.nn.Module,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
        device: str = "cpu",
        fp16: bool = False,
        threads: int = 0,
    ) -> None:
        """threads: PyTorch's CPU threads (0: PyTorch's choice, every core it sees); set for the
        whole process, as PyTorch keeps one thread pool."""
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
        if fp16 and not device.startswith("cuda"):
            raise RuntimeError("fp16 needs a CUDA device")
        self.device = torch.device(device)
        if threads and self.device.type == "cpu":
            use_threads(threads)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.net = net.to(self.device, self.dtype).eval()
        self.input_names, self.output_names = input_names, output_names
        self.max_batch = UNLIMITED_BATCH
        # GPU preprocessing hands device tensors over where the network runs on a GPU
        self.input_device = self.device if self.device.type == "cuda" else None
        self.backend = "torch" + ("-cuda" if self.device.type == "cuda" else "") + ("-fp16" if fp16 else "")

    @torch.inference_mode()
    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        """inputs: host arrays, or tensors (GPU preprocessing; no copy when already on the device)."""
        args = [as_tensor(inputs[n]).to(self.device, self.dtype) for n in self.input_names]
        outputs = self.net(*args)
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outputs, strict=True)}


def as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))


def use_threads(threads: int) -> None:
    """PyTorch's intra-op threads, and one inter-op thread (the networks are sequential graphs);
    the inter-op pool can only be sized before its first use, so later calls keep it."""
    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
