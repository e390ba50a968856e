"""Network inputs cropped on the device the network runs on (GPU preprocessing).

At batch 1 on a GPU the CPU crop, resize and normalization of a search region, and its upload,
cost about as much as the network. Here a frame is uploaded once per network call (through a
reused pinned buffer, asynchronously) and every window of the call (the search regions of all
targets and re-acquisition windows) is resampled by one batched gather on the device, so the
network gets device tensors and no crop travels through the host.

The windows are those of the CPU path (core.crop_window: the same corners, sides and padding),
and the resampling reproduces OpenCV's 8-bit bilinear resize: its pixel centres, border clamping,
11-bit fixed-point weights and the rounding of its vectorized vertical pass. Measured against
cv2.resize: equal on almost every pixel, never more than MAX_CROP_DIFF grey levels apart (the
scalar tail of OpenCV's loop rounds differently); backend building checks this on the verification
scene and falls back to the CPU crop otherwise. The CPU path stays bit-exact with the authors.

Search crops are lazy (`DeviceCrop`): a tracker's plan names its window, and `stack_inputs`, called
by the batching helper for one network call, resolves all of them together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..core.crop_window import CropWindow

MAX_CROP_DIFF = 1  # grey levels (0-255) between this crop and OpenCV's, before normalization
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE (11 bits)


def _axis(start: int, side: int, out: int, lo: int, hi: int, limit: int) -> np.ndarray:
    """For each output pixel along one axis: the two source frame indices (clamped into the frame),
    their fixed-point weights and whether each source pixel is readable (else padding); (6, out)
    int64, following OpenCV's resize (float32 source coordinate, clamped at the crop's borders)."""
    scale = 1.0 / (out / side)  # OpenCV: scale_x = 1 / inv_scale_x
    f = ((np.arange(out, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f)
    frac = (f - s).astype(np.float32)
    low = s < 0
    high = s >= side - 1
    frac[low | high] = 0.0
    s = np.where(low, 0, np.where(high, side - 1, s)).astype(np.int64)
    s1 = np.minimum(s + 1, side - 1)
    w1 = np.rint(frac * np.float32(_COEF_SCALE)).astype(np.int64)
    w0 = np.rint((np.float32(1.0) - frac) * np.float32(_COEF_SCALE)).astype(np.int64)
    x0, x1 = start + s, start + s1
    ok0, ok1 = (x0 >= lo) & (x0 < hi), (x1 >= lo) & (x1 < hi)
    return np.stack([np.clip(x0, 0, limit - 1), np.clip(x1, 0, limit - 1), w0, w1, ok0, ok1]).astype(np.int64)


def crop_tensors(frame: torch.Tensor, windows: Sequence[CropWindow]) -> torch.Tensor:
    """(N, 3, S, S) float32 normalized crops of an (H, W, 3) uint8 frame tensor, one window each
    (all of one out_size), in one batched gather."""
    return normalize(resample(frame, windows))


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """(N, S, S, 3) grey levels -> (N, 3, S, S) float32 with ImageNet's mean and std, in the CPU
    path's order of operations (/255, then - mean, / std: the same float32 results)."""
    x = pixels.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor(_MEAN, dtype=torch.float32, device=pixels.device)[None, :, None, None]
    std = torch.tensor(_STD, dtype=torch.float32, device=pixels.device)[None, :, None, None]
    return ((x - mean) / std).contiguous()


def resample(frame: torch.Tensor, windows: Sequence[CropWindow]) -> torch.Tensor:
    """(N, S, S, 3) int32 grey levels: the windows resampled as OpenCV's 8-bit bilinear resize."""
    height, width = frame.shape[:2]
    out = windows[0].out_size
    if any(w.out_size != out for w in windows):
        raise ValueError("one crop_tensors call takes windows of one output size")
    rows = np.stack([_axis(w.y1, w.side, out, w.y_lo, w.y_hi, height) for w in windows])
    cols = np.stack([_axis(w.x1, w.side, out, w.x_lo, w.x_hi, width) for w in windows])
    pads = np.array([w.pad for w in windows], dtype=np.int64)
    device = frame.device
    rows_t, cols_t = (torch.from_numpy(a).to(device, non_blocking=True) for a in (rows, cols))
    pads_t = torch.from_numpy(pads).to(device, non_blocking=True)[:, None, None, :].to(torch.int32)
    flat = frame.reshape(-1, 3)

    def pixels(r: int, c: int) -> torch.Tensor:  # (N, out, out, 3) int32, padding where unreadable
        index = rows_t[:, r, :, None] * width + cols_t[:, c, None, :]
        value = flat[index].to(torch.int32)
        readable = (rows_t[:, 4 + r, :, None] & cols_t[:, 4 + c, None, :]).bool()[..., None]
        return torch.where(readable, value, pads_t)

    wx0, wx1 = (cols_t[:, k, None, :, None].to(torch.int32) for k in (2, 3))
    wy0, wy1 = (rows_t[:, k, :, None, None].to(torch.int32) for k in (2, 3))
    top = pixels(0, 0) * wx0 + pixels(0, 1) * wx1  # OpenCV's horizontal pass (exact integers)
    bottom = pixels(1, 0) * wx0 + pixels(1, 1) * wx1
    # its vectorized vertical pass: ((h >> 4) * beta) >> 16 per row, summed, then (+2) >> 2
    mixed = torch.bitwise_right_shift(
        torch.bitwise_right_shift(top, 4) * wy0, 16
    ) + torch.bitwise_right_shift(torch.bitwise_right_shift(bottom, 4) * wy1, 16)
    return torch.bitwise_right_shift(mixed + 2, 2).clamp_(0, 255)


class DeviceCrop:
    """A search crop to be made on the device when the network call that needs it is batched."""

    def __init__(self, crops: DeviceCrops, frame: np.ndarray, window: CropWindow) -> None:
        self.crops, self.frame, self.window = crops, frame, window
        self.shape = (1, 3, window.out_size, window.out_size)


class DeviceCrops:
    """The crop source of a tracker whose backend runs on `device` (trackers use HostCrops
    otherwise): search crops lazy, template crops at once."""

    def __init__(self, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self._staging: torch.Tensor | None = None  # pinned host buffer of the last upload
        self._copied = None  # CUDA event: the staging buffer's copy to the device has finished
        self.uploads = 0  # frames uploaded (tests: once per network call)

    def search(self, frame: np.ndarray, window: CropWindow) -> DeviceCrop:
        return DeviceCrop(self, frame, window)

    def template(self, frame: np.ndarray, window: CropWindow) -> torch.Tensor:
        return crop_tensors(self.upload(frame), [window])

    def upload(self, frame: np.ndarray) -> torch.Tensor:
        """The frame as an (H, W, 3) uint8 device tensor."""
        self.uploads += 1
        host = torch.from_numpy(np.ascontiguousarray(frame))
        if self.device.type != "cuda":
            return host.to(self.device)
        if self._staging is None or self._staging.shape != host.shape:
            self._staging = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
            self._copied = None
        if self._copied is not None:
            self._copied.synchronize()  # the previous frame has left the staging buffer
        self._staging.copy_(host)
        on_device = self._staging.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return on_device


def crop_difference(crops: DeviceCrops) -> int:
    """The largest grey-level difference between `crops` and the CPU crop (host_crop) over
    windows of both lineages on the synthetic scene, inside the frame and across its borders:
    what backend building checks before it lets a tracker crop on the device."""
    from ..core.crop_window import host_crop, siamfc_window, stark_window
    from ..core.synthetic import SyntheticScene

    frame = SyntheticScene().frame(5)
    height, width = frame.shape[:2]
    windows = [
        stark_window(frame.shape, box, factor, size)[0]
        for box in (
            [120.0, 43.0, 40.0, 32.0],
            [2.0, 3.0, 30.0, 20.0],
            [width - 25.0, height - 22.0, 24.0, 21.0],
        )
        for factor, size in ((2.0, 128), (4.0, 256), (4.5, 288), (5.0, 112))
    ]
    mean = frame.mean(axis=(0, 1))
    for center in ((140.0, 60.0), (5.0, 4.0)):
        for size, side in ((127, 90.0), (256, 181.0), (288, 301.5)):
            windows.append(siamfc_window(frame.shape, center, size, side, mean))
    device_frame = crops.upload(frame)
    worst = 0
    for window in windows:
        ours = resample(device_frame, [window])[0].cpu().numpy()
        worst = max(worst, int(np.abs(ours - host_crop(frame, window).astype(np.int32)).max()))
    return worst


def stack_inputs(values: list, uploaded: dict | None = None) -> torch.Tensor:
    """One batched input from per-call values: DeviceCrops resolved together (one gather per
    frame and size; `uploaded` carries the frames already on the device across the inputs and
    chunks of one network call, so each frame is uploaded once), tensors and host arrays
    concatenated, in order."""
    uploaded = {} if uploaded is None else uploaded
    resolved: list[torch.Tensor | None] = [None] * len(values)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, DeviceCrop):
            groups.setdefault((id(value.crops), id(value.frame)), []).append(i)
    for members in groups.values():
        first = values[members[0]]
        key = (id(first.crops), id(first.frame))
        if key not in uploaded:
            uploaded[key] = (first.frame, first.crops.upload(first.frame))  # the frame kept: ids stay unique
        frame = uploaded[key][1]
        crops = crop_tensors(frame, [values[i].window for i in members])
        for row, i in enumerate(members):
            resolved[i] = crops[row : row + 1]
    device = next((t.device for t in resolved if t is not None), None)
    for i, value in enumerate(values):
        if resolved[i] is None:
            tensor = (
                value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
            )
            resolved[i] = tensor if device is None else tensor.to(device)
    if len(resolved) == 1:
        return resolved[0]  # type: ignore[return-value]
    return torch.cat(resolved)  # type: ignore[arg-type]
