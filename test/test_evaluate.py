"""OPE evaluation over OTB / LaSOT / GOT-10k layouts and a bag, with reports and plots."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene
from hit_tracker_ros.tools.bags import write_image_bag
from hit_tracker_ros.tools.datasets import load_dataset
from hit_tracker_ros.tools.evaluate import main as evaluate_main


def write_frames(
    folder: Path, scene: SyntheticScene, n: int, name=lambda i: f"{i + 1:04d}.jpg"
) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(
            str(folder / name(i)),
            cv2.cvtColor(scene.frame(i), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 95],
        )
    return np.array([scene.truth(i) for i in range(n)])


def fake_datasets(root: Path, n: int = 20) -> dict[str, Path]:
    scenes = [SyntheticScene(SceneConfig(n_frames=6 * n, seed=s, occlusion_frames=(0, 0))) for s in (1, 2)]
    for k, scene in enumerate(scenes):
        gt = write_frames(root / "otb" / f"Seq{k}" / "img", scene, n)
        np.savetxt(root / "otb" / f"Seq{k}" / "groundtruth_rect.txt", gt, fmt="%d", delimiter=",")
        seq = root / "lasot" / "car" / f"car-{k + 1}"
        gt = write_frames(seq / "img", scene, n, name=lambda i: f"{i + 1:08d}.jpg")
        gt[5] = [0, 0, 0, 0]  # an invalid annotation
        np.savetxt(seq / "groundtruth.txt", gt, fmt="%d", delimiter=",")
        flags = np.zeros(n, dtype=int)
        flags[6] = 1
        (seq / "full_occlusion.txt").write_text(",".join(map(str, flags)))
        (seq / "out_of_view.txt").write_text(",".join(["0"] * n))
        seq = root / "got10k" / f"GOT-10k_Val_{k:06d}"
        gt = write_frames(seq, scene, n, name=lambda i: f"{i + 1:08d}.jpg")
        np.savetxt(seq / "groundtruth.txt", gt, fmt="%.4f", delimiter=",")
        (seq / "absence.label").write_text("\n".join(["0"] * n))
    return {layout: root / layout for layout in ("otb", "lasot", "got10k")}


def test_layouts_are_read(tmp_path):
    roots = fake_datasets(tmp_path, n=8)
    for layout, root in roots.items():
        seqs = load_dataset(layout, root)
        assert len(seqs) == 2 and seqs[0].frame_count == 8
        assert next(seqs[0].frames()).shape == (240, 320, 3)
    lasot = load_dataset("lasot", roots["lasot"])[0]
    assert lasot.visible is not None and not lasot.visible[6] and lasot.visible[5]


def test_ope_report_tables_and_plots(tmp_path):
    roots = fake_datasets(tmp_path)
    out = tmp_path / "eval"
    assert (
        evaluate_main(
            [
                "--dataset",
                "lasot",
                str(roots["lasot"]),
                "--tracker",
                "csrt",
                "--tracker",
                "csrt::opencv",
                "--jobs",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert set(report["trackers"]) == {"csrt", "csrt-opencv"}  # several trackers, one report and plot
    overall = report["trackers"]["csrt"]["overall"]
    assert 0.5 < overall["auc"] <= 20 / 21 and overall["precision_20"] > 0.9
    assert len(overall["success_curve"]) == 21 and len(overall["precision_curve"]) == 51
    per_seq = report["trackers"]["csrt"]["per_sequence"]
    assert (
        set(per_seq) == {"car-1", "car-2"} and per_seq["car-1"]["valid_frames"] == 18
    )  # frames 5 and 6 skipped
    for png in ("success.png", "precision.png", "norm_precision.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "report.md").read_text()
    assert "| csrt |" in table and "| car-1 |" in table
    boxes = np.loadtxt(out / "results" / "csrt" / "car-1.txt", delimiter=",")
    assert boxes.shape == (20, 4)


def test_bag_with_ground_truth_file(tmp_path):
    scene = SyntheticScene(SceneConfig(n_frames=120, occlusion_frames=(0, 0)))  # slow motion: first 15 frames
    write_image_bag(
        tmp_path / "cam", [scene.frame(i) for i in range(15)], [10**18 + i * 10**7 for i in range(15)]
    )
    np.savetxt(tmp_path / "gt.txt", [scene.truth(i) for i in range(15)], delimiter=",")
    out = tmp_path / "eval"
    assert (
        evaluate_main(
            [
                "--bag",
                str(tmp_path / "cam"),
                "--topic",
                "/camera/image_raw",
                "--gt",
                str(tmp_path / "gt.txt"),
                "--tracker",
                "csrt",
                "--out",
                str(out),
                "--no-progress",
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["trackers"]["csrt"]["overall"]["precision_20"] == 1.0


def otb_args(root: Path, out: Path, *extra: str) -> list[str]:
    """In this process unless `extra` says otherwise (Ray's own tests: test_evaluate_ray.py)."""
    common = ["--tracker", "csrt", "--out", str(out), "--no-progress", "--jobs", "1"]
    return ["--dataset", "otb", str(root), *common, *extra]


def test_an_unreadable_image_fails_its_sequence_only(tmp_path, capsys):
    """One corrupt JPEG ends one (tracker, sequence) pair with its reason, in the log and the
    report; the other sequence is scored; with a process pool and in-process alike."""
    roots = fake_datasets(tmp_path, n=10)
    (roots["otb"] / "Seq1" / "img" / "0004.jpg").write_bytes(b"not a jpeg")
    for jobs in ("1", "2"):
        out = tmp_path / f"eval{jobs}"
        assert evaluate_main(otb_args(roots["otb"], out, "--jobs", jobs)) == 1, "a pair is missing: exit 1"
        report = json.loads((out / "report.json").read_text())
        assert set(report["trackers"]["csrt"]["per_sequence"]) == {"Seq0"}
        (missing,) = report["missing"]
        assert (
            missing["sequence"] == "Seq1"
            and "cannot read" in missing["reason"]
            and "0004.jpg" in missing["reason"]
        )
        assert "cannot read" in (out / "report.md").read_text().split("## Missing")[1]
        assert "csrt on Seq1 failed: OSError: cannot read" in capsys.readouterr().err


def test_a_restarted_run_keeps_what_was_done(tmp_path, capsys):
    """Interrupted after one pair (here: a run over the first sequence, and a pair whose boxes were
    written but not marked done): the restart runs only the rest and keeps the finished pair."""
    roots = fake_datasets(tmp_path, n=10)
    out = tmp_path / "eval"
    assert evaluate_main(otb_args(roots["otb"], out, "--max-sequences", "1")) == 0
    done = out / "results" / "csrt" / "Seq0.json"
    stamp = done.stat().st_mtime_ns
    (out / "results" / "csrt" / "Seq1.txt").write_text("1,2,3\n")  # cut off before it was marked done
    capsys.readouterr()
    assert evaluate_main(otb_args(roots["otb"], out, "--jobs", "2")) == 0
    log = capsys.readouterr().err
    assert (
        "1 of 2 (tracker, sequence) pairs to run (1 done before, kept), executor: a pool of 2 processes"
        in log
    )
    assert done.stat().st_mtime_ns == stamp, "the finished pair was not recomputed"
    assert np.loadtxt(out / "results" / "csrt" / "Seq1.txt", delimiter=",").shape == (10, 4)
    report = json.loads((out / "report.json").read_text())
    assert set(report["trackers"]["csrt"]["per_sequence"]) == {"Seq0", "Seq1"} and report["missing"] == []


def test_lost_statistics_count_episodes_and_wrong_lost():
    from hit_tracker_ros.tools.metrics import lost_statistics

    gt = np.tile([10.0, 10.0, 20.0, 20.0], (10, 1))
    pred = gt.copy()
    pred[6:8] = [200, 200, 20, 20]  # off the target while LOST in frames 6-7: LOST was right
    lost = np.zeros(10, dtype=bool)
    lost[[0, 2, 3, 6, 7, 8]] = True  # frame 0 is the initialization: not counted
    stats = lost_statistics(lost, pred, gt, start=0)
    assert (stats.frames, stats.lost_frames, stats.episodes, stats.longest) == (9, 5, 2, 3)
    assert stats.wrong_lost_frames == 3, "frames 2, 3 and 8: LOST with the box on the target"
    assert stats.wrong_fraction == pytest.approx(0.6) and stats.lost_fraction == pytest.approx(5 / 9)


def test_the_report_has_lost_statistics(tmp_path):
    roots = fake_datasets(tmp_path, n=10)
    out = tmp_path / "eval"
    assert evaluate_main(otb_args(roots["otb"], out)) == 0
    overall = json.loads((out / "report.json").read_text())["trackers"]["csrt"]["overall"]
    assert {
        "lost_fraction",
        "lost_episodes",
        "lost_mean_length",
        "lost_longest",
        "lost_wrong_fraction",
    } <= set(overall)
    assert "LOST episodes (mean, longest)" in (out / "report.md").read_text()


def test_results_of_another_tracker_under_the_same_name_are_not_resumed(tmp_path):
    from hit_tracker_ros.core.errors import InputError
    from hit_tracker_ros.tools.eval_store import ResultStore

    store = ResultStore(tmp_path)
    store.claim("hit_tiny", {"model": "hit_tiny", "checkpoint": ["a.pth", 1, 2], "backend": "auto"})
    store.claim("hit_tiny", {"model": "hit_tiny", "checkpoint": ["a.pth", 1, 2], "backend": "auto"})
    with pytest.raises(InputError, match="another --out"):
        store.claim("hit_tiny", {"model": "hit_tiny", "checkpoint": ["b.pth", 1, 2], "backend": "auto"})


def test_many_bags_with_sidecar_ground_truth_and_a_corrupt_one(tmp_path, capsys):
    """A folder of flight bags, ground truth beside each (BAG.gt.txt): every bag is a row of the
    report; a corrupt bag is reported with its reason and the others are scored."""
    flights = tmp_path / "flights"
    flights.mkdir()
    for k in range(2):
        scene = SyntheticScene(SceneConfig(n_frames=120, seed=k + 3, occlusion_frames=(0, 0)))
        bag = write_image_bag(
            flights / f"flight{k}", [scene.frame(i) for i in range(8)], [10**18 + i * 10**7 for i in range(8)]
        )
        np.savetxt(flights / f"{bag.name}.gt.txt", [scene.truth(i) for i in range(8)], delimiter=",")
    (flights / "broken.mcap").write_bytes(b"\x89MCAP0\r\n" + b"garbage" * 10)
    out = tmp_path / "eval"
    args = ["--bag", str(flights), "--topic", "/camera/image_raw", "--tracker", "csrt", "--out", str(out),
            "--jobs", "1"]  # fmt: skip
    assert evaluate_main([*args, "--no-progress"]) == 1
    report = json.loads((out / "report.json").read_text())
    scored = set(report["trackers"]["csrt"]["per_sequence"])
    assert scored == {"flight0_camera_image_raw", "flight1_camera_image_raw"}
    (missing,) = report["missing"]
    assert missing["sequence"].startswith("broken.mcap") and missing["reason"]
    assert "broken.mcap skipped" in capsys.readouterr().err


def test_parameter_variants_are_trackers_of_one_report(tmp_path):
    roots = fake_datasets(tmp_path, n=10)
    out = tmp_path / "eval"
    assert evaluate_main(otb_args(roots["otb"], out, "--variant", "score_threshold=0.2,0.9")) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["trackers"]) == {"csrt@score_threshold=0.2", "csrt@score_threshold=0.9"}
    low, high = (report["trackers"][f"csrt@score_threshold={t}"]["overall"] for t in ("0.2", "0.9"))
    assert low["lost_fraction"] <= high["lost_fraction"], "a higher LOST threshold is LOST as often or more"
    assert "**Comparison.** Most accurate:" in (out / "report.md").read_text()


def fake_uav123(root: Path) -> Path:
    """UAV123's layout: two sequences cut from one frame folder by the dataset's configSeqs.m, one
    whole folder, attribute flags per sequence (anno/UAV123/att)."""
    scene = SyntheticScene(SceneConfig(n_frames=120, seed=7, occlusion_frames=(0, 0)))
    data, anno = root / "data_seq" / "UAV123", root / "anno" / "UAV123"
    truth = write_frames(data / "bird1", scene, 20, name=lambda i: f"{i + 1:06d}.jpg")
    write_frames(data / "car1", scene, 8, name=lambda i: f"{i + 1:06d}.jpg")
    (anno / "att").mkdir(parents=True)
    np.savetxt(anno / "bird1_1.txt", truth[0:8], fmt="%d", delimiter=",")
    np.savetxt(anno / "bird1_2.txt", truth[12:20], fmt="%d", delimiter=",")
    np.savetxt(anno / "car1.txt", truth[:8], fmt="%d", delimiter=",")
    for name, flags in (("bird1_1", "1,0,0,1,0,0,0,0,0,0,0,0"), ("bird1_2", "0,0,0,1,0,0,0,0,0,0,0,0"),
                        ("car1", "1,0,0,0,0,0,0,0,0,0,0,0")):  # fmt: skip
        (anno / "att" / f"{name}.txt").write_text(flags + "\n")
    (root / "configSeqs.m").write_text(
        "seqUAV123={struct('name','bird1_1','path','D:\\\\UAV123\\\\data_seq\\\\UAV123\\\\bird1\\\\',"
        "'startFrame',1,'endFrame',8,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n"
        "struct('name','bird1_2','path','D:\\\\UAV123\\\\data_seq\\\\UAV123\\\\bird1\\\\',"
        "'startFrame',13,'endFrame',20,'nz',6,'ext','jpg','init_rect',[0,0,0,0])};\n"
    )
    return root


def test_uav123_ranges_attributes_and_the_per_attribute_table(tmp_path):
    root = fake_uav123(tmp_path / "UAV123")
    seqs = {s.name: s for s in load_dataset("uav123", root)}
    assert set(seqs) == {"bird1_1", "bird1_2", "car1"}
    assert [p.name for p in seqs["bird1_2"].image_paths][:2] == ["000013.jpg", "000014.jpg"]
    assert seqs["bird1_1"].frame_count == 8 and seqs["car1"].frame_count == 8
    assert seqs["bird1_1"].attributes["Scale Variation"] and seqs["bird1_2"].attributes["Fast Motion"]
    extra = tmp_path / "flights.csv"  # a team's own flags override and extend the dataset's
    extra.write_text("sequence,night,Fast Motion\ncar1,1,1\nbird1_1,0,0\n")
    out = tmp_path / "eval"
    args = ["--dataset", "uav123", str(root), "--tracker", "csrt", "--attributes", str(extra)]
    assert evaluate_main([*args, "--out", str(out), "--no-progress", "--jobs", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    attributes = report["attributes"]
    assert attributes["Fast Motion"]["sequences"] == 2  # bird1_2 (dataset) and car1 (table); not bird1_1
    assert attributes["night"]["sequences"] == 1 and attributes["Scale Variation"]["sequences"] == 2
    assert attributes["night"]["trackers"]["csrt"]["sequences"] == 1
    table = (out / "report.md").read_text()
    assert "## Per attribute" in table and "| Fast Motion | 2 |" in table
