"""The tracker node with several targets, over real DDS: three targets followed, each with its own
id (one batched network call per frame), ~/statuses carries all of them and ~/status the primary;
re-initializing one by its track id, removing one leaves the others, a full node refuses another;
re-acquisition searches the whole image when a target jumps away. max_targets 1 is the node every
other test drives, unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hit_tracker_ros.msg import TrackerStatus, TrackerStatusArray
from hit_tracker_ros.srv import InitTarget, RemoveTarget
from ros_harness import frame_stamp_ns, make_bbox, make_image, status_box

from hit_tracker_ros.core.boxes import iou
from hit_tracker_ros.core.synthetic import JumpScene, SceneConfig, SyntheticScene, paste, target_texture
from hit_tracker_ros.ros.conversions import ns_to_time, stamp_to_ns

pytestmark = pytest.mark.ros

SCENE = SyntheticScene(SceneConfig(width=320, height=240, occlusion_frames=(0, 0)))
# the moving target, and two still textured markers (a landing pad, a parked car)
STILL = ([20.0, 170.0, 40.0, 40.0], [250.0, 20.0, 44.0, 36.0])
MARKERS = (target_texture(40, 40)[::-1], target_texture(44, 36)[:, ::-1])


def scene_frame(i: int) -> np.ndarray:
    img = SCENE.frame(i)
    for (x, y, _, _), marker in zip(STILL, MARKERS, strict=True):
        paste(img, marker, int(x), int(y))
    return img


def init(t, box, stamp_ns: int, label: str = "", track_id: str = ""):
    request = InitTarget.Request(bbox=make_bbox(box), label=label, track_id=track_id)
    request.header.stamp = ns_to_time(stamp_ns)
    return t.client.call(InitTarget, f"{t.node.name}/init", request)


def statuses_for(t, stamp_ns: int) -> list[TrackerStatus]:
    def arrived() -> bool:
        return any(stamp_to_ns(a.header.stamp) == stamp_ns for a in t.client.received(topic))

    topic = f"{t.node.name}/statuses"
    t.client.wait_until(arrived, 15, f"statuses of {stamp_ns}")
    return next(a for a in t.client.received(topic) if stamp_to_ns(a.header.stamp) == stamp_ns).statuses


def test_three_targets_each_with_its_own_id_and_removal(start_tracker):
    t = start_tracker(max_targets=3, image_qos_reliability="reliable")
    t.client.listen(f"{t.node.name}/statuses", TrackerStatusArray)
    t.send_and_wait(make_image(scene_frame(0), frame_stamp_ns(0)))
    replies = [init(t, SCENE.truth(0), frame_stamp_ns(0), "car")]
    replies += [init(t, box, frame_stamp_ns(0), f"still{i}") for i, box in enumerate(STILL)]
    assert all(r.success for r in replies), [r.message for r in replies]
    ids = [r.track_id for r in replies]
    assert len(set(ids)) == 3
    full = init(t, [100.0, 100.0, 30.0, 30.0], frame_stamp_ns(0))
    assert not full.success and "all 3 targets are tracked" in full.message

    for i in range(1, 25):
        primary = t.send_and_wait(make_image(scene_frame(i), frame_stamp_ns(i)))
        everyone = statuses_for(t, frame_stamp_ns(i))
        assert [s.track_id for s in everyone] == ids  # in the order they were added
        assert primary.track_id == ids[0]  # ~/status: the first target
        assert iou(status_box(everyone[0]), SCENE.truth(i)) > 0.5
        for status, box in zip(everyone[1:], STILL, strict=True):
            assert status.state == TrackerStatus.TRACKING and iou(status_box(status), box) > 0.5
    detections = t.client.received(t.detections_topic)[-1]
    assert sorted(d.id for d in detections.detections) == sorted(ids)

    # re-initialize the second target by its id: same id, a new box
    moved = [60.0, 60.0, 40.0, 40.0]
    again = init(t, moved, frame_stamp_ns(24), track_id=ids[1])
    assert again.success and again.track_id == ids[1], again.message
    unknown = init(t, moved, frame_stamp_ns(24), track_id="feedbeef0000")
    assert not unknown.success and "no target 'feedbeef0000'" in unknown.message

    removed = t.client.call(RemoveTarget, f"{t.node.name}/remove", RemoveTarget.Request(track_id=ids[0]))
    assert removed.success, removed.message
    t.send_and_wait(make_image(scene_frame(25), frame_stamp_ns(25)))
    after = statuses_for(t, frame_stamp_ns(25))
    assert [s.track_id for s in after] == ids[1:]
    assert iou(status_box(after[0]), moved) > 0.5 and iou(status_box(after[1]), STILL[1]) > 0.5
    # the primary is now the oldest remaining target
    assert t.send_and_wait(make_image(scene_frame(26), frame_stamp_ns(26))).track_id == ids[1]
    diag = t.diagnostics()
    assert diag["targets"] == "2" and diag["max_targets"] == "3"
    assert t.stop().success
    t.send_and_wait(make_image(scene_frame(27), frame_stamp_ns(27)))
    assert [s.state for s in statuses_for(t, frame_stamp_ns(27))] == [TrackerStatus.IDLE]


def test_the_node_reacquires_a_target_that_jumped_away(start_tracker):
    scene = JumpScene()
    t = start_tracker(
        image_qos_reliability="reliable",
        recover_threshold=0.35,
        reacquire_after=5,
        reacquire_windows_per_frame=4,
        reacquire_threshold=0.5,
    )
    t.send_and_wait(make_image(scene.frame(0), frame_stamp_ns(0)))
    assert t.init(scene.truth(0), frame_stamp_ns(0)).success
    found = None
    for i in range(1, len(scene)):
        status = t.send_and_wait(make_image(scene.frame(i), frame_stamp_ns(i)))
        if i > scene.jump_frame and status.message == "re-acquired" and found is None:
            found = i
            assert iou(status_box(status), scene.truth(i)) > 0.6
    assert found is not None and found < scene.jump_frame + 30, found
    assert (
        status.state == TrackerStatus.TRACKING and iou(status_box(status), scene.truth(len(scene) - 1)) > 0.5
    )
    diag = t.diagnostics()
    assert int(diag["reacquired_by_search"]) == 1 and int(diag["reacquire_windows_scored"]) > 0
    assert np.isfinite(float(diag["reacquire_last_best_score"]))
