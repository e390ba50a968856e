"""One-pass evaluation (OPE) of trackers over OTB / LaSOT / GOT-10k / UAV123 folders or bags with
ground truth.

  python -m hit_tracker_ros.tools.evaluate --dataset otb ~/data/OTB100 --tracker csrt \\
      --tracker hit_tiny:models/HiT_Tiny.pth.tar:onnxruntime --out out/eval   # on a local Ray
  ... --ray-address 10.0.0.5:6379   # on a Ray cluster  |  --jobs 2: two local processes, no Ray
  python -m hit_tracker_ros.tools.evaluate --bag field.mcap --topic /camera/image_raw --gt gt.txt \\
      --tracker csrt --out out/eval_field

Writes OUT/results/<tracker>/<sequence>.txt (boxes, one line per frame), OUT/report.md and
OUT/report.json (per-sequence and overall AUC, precision@20px, normalized precision@0.2, FPS) and
OUT/success.png, OUT/precision.png, OUT/norm_precision.png (all trackers in each plot). Metrics:
hit_tracker_ros.tools.metrics.

Every finished (tracker, sequence) pair is stored as it completes (tools.eval_store): run the same
command again after an interruption and only the pairs not done yet run. A pair that fails (an
unreadable image, a corrupt bag, a tracker error, a worker process that died) is logged with its
reason, does not stop the others, and is listed in the report as missing with that reason; the
exit code is then 1. The log names the executor used (tools.eval_executors: Ray by default,
`--jobs N` local processes) and, on Ray, the nodes the pairs ran on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.errors import cli
from . import metrics
from .datasets import (
    Sequence,
    bag_sequence,
    bag_sequence_name,
    find_bags,
    load_dataset,
    read_attributes,
    sidecar_ground_truth,
)
from .eval_executors import Executor, InProcess, ProcessPool, choose, used_nodes
from .eval_store import ResultStore
from .progress import Progress


@dataclass(frozen=True)
class TrackerSpec:
    """MODEL[:CHECKPOINT[:BACKEND]] as given on the command line, with tracker options of a
    variant (--variant, e.g. score_threshold, the LOST threshold)."""

    model: str
    checkpoint: str | None = None
    backend: str = "auto"
    options: tuple[tuple[str, float | str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrackerSpec:
        parts = text.split(":")
        return cls(
            parts[0],
            parts[1] if len(parts) > 1 and parts[1] else None,
            parts[2] if len(parts) > 2 else "auto",
        )

    def identity(self) -> dict:
        """What makes results comparable: the model, the checkpoint file (path, size, mtime), the
        backend."""
        checkpoint = None
        if self.checkpoint:
            path = Path(self.checkpoint)
            stat = path.stat() if path.exists() else None
            checkpoint = [
                str(path.resolve()),
                stat.st_size if stat else None,
                stat.st_mtime_ns if stat else None,
            ]
        return {
            "model": self.model,
            "checkpoint": checkpoint,
            "backend": self.backend,
            "options": [list(kv) for kv in self.options],
        }

    @property
    def name(self) -> str:
        name = self.model if self.backend == "auto" else f"{self.model}-{self.backend}"
        return name + "".join(
            f"@{key}={value:g}" if isinstance(value, float) else f"@{key}={value}"
            for key, value in self.options
        )

    def variants(self, variant: str) -> list[TrackerSpec]:
        """One spec per value of `variant` ("key=v1,v2,..."); ValueError for a malformed one."""
        key, _, values = variant.partition("=")
        if not key or not values:
            raise ValueError(f"--variant needs KEY=V1,V2,... (got '{variant}')")
        return [replace(self, options=(*self.options, (key, _value(v)))) for v in values.split(",")]


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def first_valid(gt: np.ndarray) -> int:
    """The first frame with a valid ground-truth box: the tracker is initialized there."""
    return int(np.argmax(np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)))


def run_sequence(spec: TrackerSpec, seq: Sequence) -> tuple[np.ndarray, float, list[int]]:
    """Track `seq` from its first valid ground-truth box; (N, 4) predictions, FPS, and the frames
    the tracker reported LOST."""
    from ..core.registry import build_tracker
    from ..core.types import TrackState

    tracker = build_tracker(
        spec.model, checkpoint=spec.checkpoint, backend=spec.backend, **dict(spec.options)
    )
    gt = seq.ground_truth
    start_index = first_valid(gt)
    lost: list[int] = []
    pred = np.zeros((seq.frame_count, 4))
    pred[: start_index + 1] = gt[start_index]
    seconds = 0.0
    for i, frame in enumerate(seq.frames()):
        if i < start_index:
            continue
        if i == start_index:
            tracker.initialize(frame, gt[start_index])
            continue
        t0 = time.perf_counter()
        result = tracker.track(frame)
        seconds += time.perf_counter() - t0
        pred[i] = result.box
        if result.state == TrackState.LOST:
            lost.append(i)
    tracked = seq.frame_count - start_index - 1
    return pred, tracked / seconds if seconds > 0 else float("nan"), lost


# tracker, sequence, boxes, fps, LOST frames, error
Outcome = tuple[str, str, "np.ndarray | None", float, list, str]


def _task(args: tuple[TrackerSpec, Sequence]) -> Outcome:
    """One pair; an error becomes the outcome's reason (the other pairs go on)."""
    spec, seq = args
    try:
        pred, fps, lost = run_sequence(spec, seq)
    except Exception as exc:  # noqa: BLE001 - reported per pair, never the end of the run
        return spec.name, seq.name, None, float("nan"), [], f"{type(exc).__name__}: {exc}"
    return spec.name, seq.name, pred, fps, lost, ""


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def evaluate(
    sequences: list[Sequence],
    specs: list[TrackerSpec],
    out: Path,
    jobs: int = 1,
    progress: bool = True,
    log=_log,
    unreadable: dict[str, str] | None = None,
    executor: Executor | None = None,
) -> dict:
    """Run every tracker on every sequence not done yet (on `executor`, default: `jobs` local
    processes), store each pair as it finishes, then score everything stored and write the report
    and plots."""
    executor = executor or (ProcessPool(jobs) if jobs > 1 else InProcess())
    store = ResultStore(out)
    for spec in specs:
        store.claim(spec.name, spec.identity())
    pairs = [(spec, seq) for spec in specs for seq in sequences]
    tasks = [(spec, seq) for spec, seq in pairs if not store.done(spec.name, seq.name)]
    log(
        f"evaluate: {len(tasks)} of {len(pairs)} (tracker, sequence) pairs to run "
        f"({len(pairs) - len(tasks)} done before, kept), executor: {executor.name}"
    )
    bar = Progress(len(tasks), label="sequences", enabled=progress)
    finished = 0

    def done(task: tuple, outcome: Outcome | None, reason: str) -> None:
        nonlocal finished
        spec, seq = task
        error = reason or (outcome[-1] if outcome else "no outcome")
        if error:
            store.fail(spec.name, seq.name, error)
            log(f"evaluate: {spec.name} on {seq.name} failed: {error}")
        else:
            _, _, boxes, fps, lost, _ = outcome
            store.save(spec.name, seq.name, boxes, fps, lost)
        finished += 1
        bar.update(finished)

    if tasks:
        executor.run(tasks, _task, done)
    bar.close()
    nodes = used_nodes(executor)
    if nodes:
        log(f"evaluate: the pairs ran on {len(nodes)} node(s): {', '.join(nodes)}")
    results = {
        spec.name: {s.name: store.load(spec.name, s.name) for s in sequences if store.done(spec.name, s.name)}
        for spec in specs
    }
    failures = store.failures()
    missing = [
        {"tracker": spec.name, "sequence": seq.name, "reason": failures.get((spec.name, seq.name), "not run")}
        for spec, seq in pairs
        if not store.done(spec.name, seq.name)
    ]
    missing += [
        {"tracker": spec.name, "sequence": name, "reason": reason}
        for spec in specs
        for name, reason in (unreadable or {}).items()
    ]
    report = score(sequences, results)
    report["missing"] = missing
    write_outputs(out, report)
    return report


def score(sequences: list[Sequence], results: dict) -> dict:
    """Metrics per tracker over the sequences it has results for (the others are in "missing"),
    and per attribute over the sequences that have it."""
    report: dict = {"sequences": [s.name for s in sequences], "trackers": {}}
    report["attributes"] = attribute_scores(sequences, results)
    for tracker, per_seq in results.items():
        curves = {
            s.name: metrics.sequence_curves(per_seq[s.name][0], s.ground_truth, s.visible)
            for s in sequences
            if s.name in per_seq
        }
        if not curves:
            continue
        overall = metrics.dataset_scores(list(curves.values()))
        lost = {s.name: _lost(s, per_seq[s.name]) for s in sequences if s.name in per_seq}
        report["trackers"][tracker] = {
            "overall": {
                "auc": overall.auc,
                "precision_20": overall.precision_20,
                "norm_precision_20": overall.norm_precision_20,
                "fps_mean": _mean([per_seq[name][1] for name in curves]),
                "success_curve": overall.success.tolist(),
                "precision_curve": overall.precision.tolist(),
                "norm_precision_curve": overall.norm_precision.tolist(),
                **_lost_summary(list(lost.values())),
            },
            "per_sequence": {
                name: {
                    "auc": c.auc,
                    "precision_20": c.precision_20,
                    "norm_precision_20": c.norm_precision_20,
                    "mean_iou": c.mean_iou,
                    "valid_frames": c.valid_frames,
                    "fps": per_seq[name][1],
                    **_lost_summary([lost[name]]),
                }
                for name, c in curves.items()
            },
        }
    return report


def attribute_scores(sequences: list[Sequence], results: dict) -> dict:
    """{attribute: {"sequences": n, "trackers": {tracker: {auc, precision_20, sequences}}}} over
    the sequences flagged with it (LaSOT / UAV123 attributes, or a table for flights)."""
    names = sorted({a for s in sequences for a, on in s.attributes.items() if on})
    out = {}
    for attribute in names:
        flagged = [s for s in sequences if s.attributes.get(attribute)]
        trackers = {}
        for tracker, per_seq in results.items():
            curves = [
                metrics.sequence_curves(per_seq[s.name][0], s.ground_truth, s.visible)
                for s in flagged
                if s.name in per_seq
            ]
            if curves:
                overall = metrics.dataset_scores(curves)
                trackers[tracker] = {
                    "auc": overall.auc,
                    "precision_20": overall.precision_20,
                    "sequences": len(curves),
                }
        out[attribute] = {"sequences": len(flagged), "trackers": trackers}
    return out


def _lost(seq: Sequence, result: tuple) -> metrics.LostStatistics:
    boxes, _, lost_frames = result
    flags = np.zeros(len(boxes), dtype=bool)
    flags[[i for i in lost_frames if i < len(boxes)]] = True
    gt = seq.ground_truth[: len(boxes)]
    return metrics.lost_statistics(flags, boxes, gt, first_valid(gt))


def _lost_summary(stats: list[metrics.LostStatistics]) -> dict:
    """LOST over sequences: share of tracked frames, episodes and their mean and longest length,
    and the share of LOST frames that were wrong (the box still on the target)."""
    frames, lost = sum(s.frames for s in stats), sum(s.lost_frames for s in stats)
    episodes, wrong = sum(s.episodes for s in stats), sum(s.wrong_lost_frames for s in stats)
    return {
        "lost_fraction": lost / frames if frames else 0.0,
        "lost_episodes": episodes,
        "lost_mean_length": lost / episodes if episodes else 0.0,
        "lost_longest": max((s.longest for s in stats), default=0),
        "lost_wrong_fraction": wrong / lost if lost else float("nan"),
    }


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def write_outputs(out: Path, report: dict) -> None:
    """The report and plots (the boxes are in the result store already)."""
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.md").write_text(markdown(report))
    plot(report, out)


def markdown(report: dict) -> str:
    lines = [
        "# OPE report",
        "",
        "| tracker | AUC | precision@20px | norm. precision@0.2 | FPS | LOST | LOST episodes (mean, longest) "
        "| LOST wrong |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tracker, r in report["trackers"].items():
        o = r["overall"]
        wrong = o["lost_wrong_fraction"]
        lines.append(
            f"| {tracker} | {100 * o['auc']:.1f} | {100 * o['precision_20']:.1f} | "
            f"{100 * o['norm_precision_20']:.1f} | {o['fps_mean']:.1f} | {100 * o['lost_fraction']:.1f} % | "
            f"{o['lost_episodes']} ({o['lost_mean_length']:.1f}, {o['lost_longest']}) | "
            + ("-" if not np.isfinite(wrong) else f"{100 * wrong:.0f} %")
            + " |"
        )
    lines += ["", *comparison(report)]
    lines += [
        "",
        "LOST: share of the tracked frames the tracker reported LOST; episodes: runs of LOST frames",
        "(mean and longest length in frames); LOST wrong: share of LOST frames whose box still had",
        "IoU > 0.5 with the ground truth (the tracker gave up on a target it was following).",
    ]
    trackers = list(report["trackers"])
    if report.get("attributes"):
        lines += ["", "## Per attribute (AUC / precision@20px over the sequences with it)", ""]
        lines += [
            "| attribute | sequences | " + " | ".join(trackers) + " |",
            "| --- | --- |" + " --- |" * len(trackers),
        ]
        for attribute, a in report["attributes"].items():
            cells = [
                f"{100 * a['trackers'][t]['auc']:.1f} / {100 * a['trackers'][t]['precision_20']:.1f}"
                if t in a["trackers"]
                else "-"
                for t in trackers
            ]
            lines.append(f"| {attribute} | {a['sequences']} | " + " | ".join(cells) + " |")
    lines += ["", "## Per sequence (AUC / precision@20px / norm. precision@0.2)", ""]
    lines += ["| sequence | " + " | ".join(trackers) + " |", "| --- |" + " --- |" * len(trackers)]
    for seq in report["sequences"]:
        cells = []
        for t in trackers:
            s = report["trackers"][t]["per_sequence"].get(seq)
            cells.append(
                f"{100 * s['auc']:.1f} / {100 * s['precision_20']:.1f} / {100 * s['norm_precision_20']:.1f}"
                if s
                else "missing"
            )
        lines.append(f"| {seq} | " + " | ".join(cells) + " |")
    if report.get("missing"):
        lines += [
            "",
            "## Missing (not in the scores above)",
            "",
            "| tracker | sequence | why |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {m['tracker']} | {m['sequence']} | {m['reason']} |" for m in report["missing"]]
    return "\n".join(lines) + "\n"


def comparison(report: dict) -> list[str]:
    """The lines a team reads to pick a tracker: the most accurate, the fastest, and the one whose
    LOST state was least often wrong, with the others' distance to each."""
    trackers = {name: r["overall"] for name, r in report["trackers"].items()}
    if len(trackers) < 2:
        return []
    best = max(trackers, key=lambda t: trackers[t]["auc"])
    fastest = max(trackers, key=lambda t: np.nan_to_num(trackers[t]["fps_mean"], nan=-1.0))
    lines = [
        "**Comparison.** "
        f"Most accurate: {best} (AUC {100 * trackers[best]['auc']:.1f}). "
        f"Fastest: {fastest} ({trackers[fastest]['fps_mean']:.1f} FPS, "
        f"AUC {100 * trackers[fastest]['auc']:.1f})."
    ]
    judged = {
        t: o["lost_wrong_fraction"] for t, o in trackers.items() if np.isfinite(o["lost_wrong_fraction"])
    }
    if judged:
        honest = min(judged, key=judged.get)
        lines[0] += f" LOST least often wrong: {honest} ({100 * judged[honest]:.0f} % of its LOST frames)."
    return lines


def plot(report: dict, out: Path) -> None:
    """Success, precision and normalized-precision plots, every tracker in each (legend: score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = (
        ("success", metrics.OVERLAP_THRESHOLDS, "success_curve", "auc", "Overlap threshold", "Success rate"),
        (
            "precision",
            metrics.CENTER_THRESHOLDS,
            "precision_curve",
            "precision_20",
            "Location error threshold (px)",
            "Precision",
        ),
        (
            "norm_precision",
            metrics.NORM_CENTER_THRESHOLDS,
            "norm_precision_curve",
            "norm_precision_20",
            "Normalized location error threshold",
            "Normalized precision",
        ),
    )
    for name, x, curve_key, score_key, xlabel, ylabel in kinds:
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        ranked = sorted(report["trackers"].items(), key=lambda kv: -kv[1]["overall"][score_key])
        for tracker, r in ranked:
            ax.plot(
                x,
                r["overall"][curve_key],
                label=f"{tracker} [{100 * r['overall'][score_key]:.1f}]",
                linewidth=2,
            )
        ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02), title=f"{ylabel} plots of OPE")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left" if name == "success" else "lower right")
        fig.tight_layout()
        fig.savefig(out / f"{name}.png")
        plt.close(fig)


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", nargs=2, metavar=("LAYOUT", "ROOT"), help="otb|lasot|got10k|uav123 and its folder"
    )
    parser.add_argument(
        "--attributes",
        type=Path,
        default=None,
        help="CSV of sequence attributes (header: sequence,<attribute>,...; rows of 0/1) for the "
        "per-attribute table; UAV123 brings its own",
    )
    parser.add_argument(
        "--bag",
        action="append",
        help="evaluate on bags instead: a bag, a folder of bags or a glob, repeatable (with --topic, "
        "and --gt-topic, --gt for one bag, or a BAG.gt.txt beside each bag)",
    )
    parser.add_argument("--topic", default=None)
    parser.add_argument("--gt", type=Path, default=None)
    parser.add_argument("--gt-topic", default=None)
    parser.add_argument(
        "--tracker",
        action="append",
        required=True,
        type=TrackerSpec.parse,
        help="MODEL[:CHECKPOINT[:BACKEND]], repeatable",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="KEY=V1,V2,...: every tracker once per value of this tracker option (e.g. "
        "score_threshold=0.2,0.3, the LOST threshold); repeatable (all combinations)",
    )
    parser.add_argument("--max-sequences", type=int, default=None)
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="run the pairs in this many local processes (1: this process) instead of on Ray",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="run on this Ray cluster (e.g. 10.0.0.5:6379; the package and the data on every node); "
        "default: a local Ray instance, or this process where Ray is not installed",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    for variant in args.variant:
        args.tracker = [v for spec in args.tracker for v in spec.variants(variant)]
    if (args.dataset is None) == (args.bag is None):
        parser.error("give --dataset LAYOUT ROOT or --bag BAG")
    unreadable: dict[str, str] = {}
    if args.bag is not None:
        if not args.topic:
            parser.error("--bag needs --topic")
        bags = find_bags(args.bag)
        if args.gt is not None and len(bags) > 1:
            parser.error(
                "--gt names one file: with several bags keep BAG.gt.txt beside each, or use --gt-topic"
            )
        sequences = []
        for bag in bags[: args.max_sequences]:
            gt = args.gt or (None if args.gt_topic else sidecar_ground_truth(bag))
            try:
                if gt is None and args.gt_topic is None:
                    raise FileNotFoundError(f"no ground truth: {bag.name}.gt.txt beside it, or --gt-topic")
                sequences.append(bag_sequence(bag, args.topic, gt, args.gt_topic))
            except Exception as exc:  # noqa: BLE001 - one unreadable bag must not end the run
                name = bag_sequence_name(bag, args.topic)
                unreadable[name] = f"{type(exc).__name__}: {exc}"
                print(f"evaluate: bag {bag} skipped: {unreadable[name]}", file=sys.stderr)
    else:
        sequences = load_dataset(*args.dataset)[: args.max_sequences]
    if args.attributes is not None:
        table = read_attributes(args.attributes)
        for seq in sequences:
            seq.attributes = {**seq.attributes, **table.get(seq.name, {})}
    args.out.mkdir(parents=True, exist_ok=True)
    executor = choose(args.jobs, args.ray_address, _log)
    try:
        report = evaluate(
            sequences, args.tracker, args.out, progress=not args.no_progress, unreadable=unreadable,
            executor=executor,
        )  # fmt: skip
    finally:
        getattr(executor, "close", lambda: None)()
    print(markdown(report).split("## Per sequence")[0].strip())
    print(f"\nwritten: {args.out / 'report.md'}, report.json, success.png, precision.png, norm_precision.png")
    for m in report["missing"]:
        print(f"missing: {m['tracker']} on {m['sequence']}: {m['reason']}")
    return 1 if report["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
