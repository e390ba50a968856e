"""Tracking datasets in their published layouts (OTB, LaSOT, GOT-10k, UAV123) and rosbags with
ground truth; per-sequence attributes (UAV123's own files, or a table for any dataset or bags)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def load_boxes(path: str | Path) -> np.ndarray:
    """(N, 4) boxes from a text file, one [x, y, w, h] per line, separated by commas, tabs or
    spaces; 'NaN' (or empty) lines become NaN rows (invalid frames)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = [p for p in re.split(r"[,\t ]+", line.strip()) if p]
        rows.append([float(p) for p in parts[:4]] if len(parts) >= 4 else [np.nan] * 4)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


@dataclass
class Sequence:
    """A sequence: frames from image files (or held in memory, for bags), ground truth and
    optional visibility flags. Picklable, so sequences can run in worker processes."""

    name: str
    ground_truth: np.ndarray
    image_paths: list[Path] = field(default_factory=list)
    images: list[np.ndarray] | None = None
    visible: np.ndarray | None = None
    attributes: dict[str, bool] = field(default_factory=dict)  # e.g. {"Fast Motion": True}

    @property
    def frame_count(self) -> int:
        return min(len(self.images if self.images is not None else self.image_paths), len(self.ground_truth))

    def load_frame(self, i: int) -> np.ndarray:
        if self.images is not None:
            return self.images[i]
        bgr = cv2.imread(str(self.image_paths[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read {self.image_paths[i]}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(self.frame_count):
            yield self.load_frame(i)


def _image_sequence(
    name: str, images: list[Path], gt: np.ndarray, visible: np.ndarray | None = None
) -> Sequence:
    n = min(len(images), len(gt))
    return Sequence(name, gt[:n], image_paths=images[:n], visible=None if visible is None else visible[:n])


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _flags(path: Path) -> np.ndarray | None:
    if not path.exists():
        return None
    return np.array([int(v) for v in re.split(r"[,\s]+", path.read_text().strip()) if v], dtype=bool)


def otb(root: Path) -> list[Sequence]:
    """root/<seq>/img/*.jpg with groundtruth_rect.txt (OTB-2015 layout)."""
    out = []
    for gt_file in sorted(root.glob("*/groundtruth_rect*.txt")):
        seq = gt_file.parent
        out.append(_image_sequence(seq.name, _images(seq / "img"), load_boxes(gt_file)))
    return out


def lasot(root: Path) -> list[Sequence]:
    """root/<category>/<category-N>/img/*.jpg with groundtruth.txt, full_occlusion.txt and
    out_of_view.txt (the target counts as visible unless fully occluded or out of view)."""
    out = []
    for gt_file in sorted(root.glob("**/groundtruth.txt")):
        seq = gt_file.parent
        if not (seq / "img").is_dir():
            continue
        gt = load_boxes(gt_file)
        occluded, out_of_view = _flags(seq / "full_occlusion.txt"), _flags(seq / "out_of_view.txt")
        visible = None
        if occluded is not None and out_of_view is not None:
            visible = ~(occluded[: len(gt)] | out_of_view[: len(gt)])
        out.append(_image_sequence(seq.name, _images(seq / "img"), gt, visible))
    return out


def got10k(root: Path) -> list[Sequence]:
    """root/<seq>/*.jpg with groundtruth.txt (and absence.label: 1 = target absent)."""
    out = []
    for gt_file in sorted(root.glob("*/groundtruth.txt")):
        seq = gt_file.parent
        absent = _flags(seq / "absence.label")
        out.append(
            _image_sequence(seq.name, _images(seq), load_boxes(gt_file), None if absent is None else ~absent)
        )
    return out


# The 12 flags of UAV123's anno/UAV123/att/<sequence>.txt, in the order of the paper's attribute
# table (the order the community toolkits read them in); --attributes overrides them.
UAV123_ATTRIBUTES = (
    "Scale Variation",
    "Aspect Ratio Change",
    "Low Resolution",
    "Fast Motion",
    "Full Occlusion",
    "Partial Occlusion",
    "Out-of-View",
    "Background Clutter",
    "Illumination Variation",
    "Viewpoint Change",
    "Camera Motion",
    "Similar Object",
)
_CONFIG_ENTRY = re.compile(
    r"'name'\s*,\s*'(?P<name>[^']+)'.*?'path'\s*,\s*'(?P<path>[^']*)'.*?"
    r"'startFrame'\s*,\s*(?P<start>\d+).*?'endFrame'\s*,\s*(?P<end>\d+)",
    re.S,
)


def uav123_ranges(root: Path) -> dict[str, tuple[str, int, int]]:
    """{sequence: (frame folder, first, last frame)} from the dataset's own configSeqs.m (it ships
    with UAV123: several sequences are frame ranges of one folder, e.g. bird1_1 .. bird1_3)."""
    configs = sorted(root.glob("**/configSeqs.m"))
    if not configs:
        return {}
    ranges = {}
    for m in _CONFIG_ENTRY.finditer(configs[0].read_text(errors="replace")):
        folder = [part for part in re.split(r"[\\/]", m["path"]) if part][-1] if m["path"] else m["name"]
        ranges[m["name"]] = (folder, int(m["start"]), int(m["end"]))
    return ranges


def uav123(root: Path) -> list[Sequence]:
    """root/data_seq/UAV123/<folder>/*.jpg, root/anno/UAV123/<sequence>.txt and att/<sequence>.txt;
    frame ranges from configSeqs.m (a sequence named like its folder, without it: every frame)."""
    anno = root / "anno" / "UAV123"
    data = root / "data_seq" / "UAV123"
    ranges = uav123_ranges(root)
    out = []
    for gt_file in sorted(anno.glob("*.txt")):
        name = gt_file.stem
        gt = load_boxes(gt_file)
        if name in ranges:
            folder, first, last = ranges[name]
            images = _images(data / folder)[first - 1 : last]
        elif (data / name).is_dir():
            images = _images(data / name)
        else:
            raise ValueError(
                f"UAV123 sequence {name} has no folder {data / name} and no frame range: put the "
                "dataset's configSeqs.m under the dataset folder"
            )
        seq = _image_sequence(name, images, gt, np.all(np.isfinite(gt), axis=1))
        flags = _flags(anno / "att" / f"{name}.txt")
        if flags is not None and len(flags) == len(UAV123_ATTRIBUTES):
            seq.attributes = dict(zip(UAV123_ATTRIBUTES, (bool(f) for f in flags), strict=True))
        out.append(seq)
    return out


def read_attributes(path: str | Path) -> dict[str, dict[str, bool]]:
    """A table of sequence attributes (CSV: a header `sequence,<attribute>,...`, then one row of
    0/1 per sequence, named as in the report): for LaSOT's attribute matrix, or for flights
    (night, rain, ...)."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty attribute table")
    header = [h.strip() for h in lines[0].split(",")]
    table = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(header):
            raise ValueError(f"{path}: '{line}' has {len(cells)} cells, the header {len(header)}")
        table[cells[0]] = {
            name: cell not in ("", "0", "false", "False")
            for name, cell in zip(header[1:], cells[1:], strict=True)
        }
    return table


LAYOUTS = {"otb": otb, "lasot": lasot, "got10k": got10k, "uav123": uav123}


def load_dataset(layout: str, root: str | Path) -> list[Sequence]:
    root = Path(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout}; use one of {', '.join(LAYOUTS)}")
    sequences = LAYOUTS[layout](root)
    if not sequences:
        raise ValueError(f"no {layout} sequence found under {root}")
    return sequences


def bag_sequence(
    bag: str | Path, topic: str, gt_file: str | Path | None = None, gt_topic: str | None = None
) -> Sequence:
    """A sequence from a camera topic of a bag, ground truth from a file (one box per frame) or
    from a Detection2D(Array) topic matched by header stamp (frames without one are invalid)."""
    from .bags import read_boxes, read_frames

    total, frames = read_frames(bag, topic)
    images, stamps = [], []
    for frame in frames:
        images.append(frame.rgb)
        stamps.append(frame.stamp_ns)
    if gt_file is not None:
        gt = load_boxes(gt_file)
    elif gt_topic is not None:
        by_stamp = read_boxes(bag, gt_topic)
        gt = np.array([by_stamp.get(s, [np.nan] * 4) for s in stamps], dtype=np.float64)
    else:
        raise ValueError("a bag sequence needs ground truth: a file or a topic")
    return Sequence(bag_sequence_name(bag, topic), gt[: len(images)], images=images)


def bag_sequence_name(bag: str | Path, topic: str) -> str:
    """A bag's sequence name in results and reports: the bag's name and the topic."""
    return f"{Path(bag).name}{topic.replace('/', '_')}"


BAG_SUFFIXES = (".mcap", ".db3")


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (with metadata.yaml) or a single storage file."""
    return (path.is_dir() and (path / "metadata.yaml").exists()) or (
        path.is_file() and path.suffix in BAG_SUFFIXES
    )


def find_bags(items: list[str]) -> list[Path]:
    """Bags from the command line: a bag, a folder holding bags, or a glob; in order, once each."""
    import glob

    found: list[Path] = []
    for item in items:
        matches = (
            [Path(m) for m in sorted(glob.glob(item))] if any(c in item for c in "*?[") else [Path(item)]
        )
        for path in matches:
            if is_bag(path):
                found.append(path)
            elif path.is_dir():
                found += [p for p in sorted(path.iterdir()) if is_bag(p)]
            elif not path.exists():
                raise FileNotFoundError(f"no bag at {path}")
    if not found:
        raise ValueError(f"no bag found in {', '.join(items)}")
    return list(dict.fromkeys(found))


def sidecar_ground_truth(bag: Path) -> Path | None:
    """The ground-truth file kept beside a bag: BAG.gt.txt, or groundtruth.txt inside its folder."""
    for candidate in (bag.with_name(bag.name + ".gt.txt"), bag / "groundtruth.txt"):
        if candidate.is_file():
            return candidate
    return None
