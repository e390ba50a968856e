"""Export a tracker network to ONNX and verify it against PyTorch.

python -m hit_tracker_ros.tools.export --model hit_tiny --checkpoint models/HiT_Tiny.pth.tar
(writes models/HiT_Tiny.pth.tar.hit_tiny.onnx and a .json with the checkpoint hash and diffs)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..core.errors import cli
from .cli import checkpoint_of


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a network model, e.g. hit_tiny")
    parser.add_argument(
        "--checkpoint", required=True, help="the checkpoint; 'random': random weights (to try the export)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="ONNX file (default: models/<checkpoint>.<model>.onnx)"
    )
    parser.add_argument(
        "--static-weights",
        action="store_true",
        help="export the static-weight form (E.T.Track's exemplar-sum rewrite, for TensorRT builders "
        "that cannot take computed convolution weights); the same graph for other families",
    )
    args = parser.parse_args(argv)
    from ..trackers.network import export_model, family_of

    family = family_of(args.model)  # ValueError for an unknown model, before anything is written
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = checkpoint_of(args.model, args.checkpoint, Path(folder))
        if not checkpoint.is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint} not found")
        suffix = ".static" if args.static_weights else ""
        out = args.out or Path("models") / f"{checkpoint.name}.{args.model}{suffix}.onnx"
        path, diffs = export_model(family, args.model, checkpoint, out, args.static_weights)
    print(f"wrote {path}")
    for name, diff in diffs.items():
        print(f"  max |ONNX Runtime - PyTorch| {name}: {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
