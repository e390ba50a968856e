"""The lifecycle node `hit_tracker`: images in; Detection2D, TrackerStatus and diagnostics out.

An adapter: parameters, subscriptions, services and publishers. The rules (which frame is
tracked, which init wins, targets, catch-up, counters) are the ROS-free core.tracking_loop, which
runs the worker thread; the executor thread runs the subscriptions, the services (reading image
headers only, so no service waits for a decode or an inference) and the diagnostics timer.
"""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from hit_tracker_ros.msg import TrackerStatus, TrackerStatusArray
from hit_tracker_ros.srv import InitTarget, RemoveTarget

from ..backends.options import BackendOptions
from ..core.annotate import draw_track
from ..core.bearing import CameraModel, CameraModelError
from ..core.boxes import InvalidBoxError, centre, point_box, validate_box
from ..core.cpu import configure_opencv
from ..core.handoff import HandoffPolicy, choose
from ..core.images import DEFAULT_MAX_IMAGE_PIXELS, ImageDecodeError
from ..core.reacquire import ReacquireSettings
from ..core.registry import build_tracker
from ..core.session import StepOutcome, new_track_id
from ..core.stamps import format_stamp, seconds_to_ns
from ..core.stats import RateMeter, SampleWindow
from ..core.status import status_fields
from ..core.targets import TargetSet
from ..core.tracking_loop import STAGES, Frame, InitRequest, LoopCounters, TrackingLoop
from ..core.types import TrackState
from ..trackers.multi import batch_needed
from .camera_info import camera_model
from .conversions import bbox_to_xywh, image_size, image_to_rgb, make_detection, rgb_to_image, stamp_to_ns
from .init_inputs import candidates, detection_label
from .input_qos import IncompatibleQos, overridable
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import TRACKER_PARAMETERS
from .refusals import NOT_ACTIVE
from .status import make_status

SERVICE_QUEUE_DEPTH = 200
# The statuses keep their newest ten for a subscriber that joins late (TRANSIENT_LOCAL; volatile
# subscribers, the usual kind, are unaffected): a UI or `ros2 topic echo` started during a track
# sees its state at once, and no status is lost while discovery completes.
STATUS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class TrackerNode(ManagedNode):
    """The tracker as a ROS 2 lifecycle node (one target, or several with max_targets)."""

    role = "tracker"
    parameters = TRACKER_PARAMETERS

    def __init__(self, node_name: str = "hit_tracker", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._loop: TrackingLoop | None = None
        self._max_pixels = DEFAULT_MAX_IMAGE_PIXELS
        self._active = False
        self._pubs: dict[str, object] = {}
        self._subs: list[object] = []
        self._model = self._backend = ""
        self._backend_info: dict[str, str] = {}
        self._camera: CameraModel | None = None
        self._camera_info_status = "none received"
        self._last_box: np.ndarray | None = None  # of the most recent track (nearest_previous)
        self._last_error = ""
        self._incompatible_qos = IncompatibleQos(self.get_logger())
        self._latency_ms = SampleWindow(100)
        self._processing_ms = SampleWindow(100)
        self._input_rate = RateMeter()
        self._state_name = "IDLE"

        # Deep request queues: a burst of calls (a UI, a detector) must not lose requests.
        service_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=SERVICE_QUEUE_DEPTH)
        self.create_service(InitTarget, "~/init", self._on_init, qos_profile=service_qos)
        self.create_service(Trigger, "~/stop", self._on_stop, qos_profile=service_qos)
        self.create_service(RemoveTarget, "~/remove", self._on_remove, qos_profile=service_qos)

        self.start(float(self.param("diagnostics_period")))

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        tracker_options = {}
        if float(self.param("search_factor")) > 0:
            tracker_options["search_factor"] = float(self.param("search_factor"))
        if int(self.param("update_interval")) > 0:
            tracker_options["update_interval"] = int(self.param("update_interval"))
        self._image_qos()
        max_targets = int(self.param("max_targets"))
        if max_targets < 1:
            raise ValueError(f"max_targets must be >= 1, got {max_targets}")
        backend_options = {name: self.param(name) for name in BackendOptions.names()}
        needed = batch_needed(max_targets, self._reacquire_settings({}))
        backend_options["max_batch"] = max(int(backend_options["max_batch"]), needed)
        configure_opencv(int(backend_options["cpu_threads"]))
        tracker = build_tracker(
            self.param("model"),
            checkpoint=self.param("checkpoint") or None,
            backend=self.param("backend"),
            **backend_options,
            **tracker_options,
        )
        self._model, self._backend = tracker.model, tracker.backend
        self._backend_info = dict(tracker.backend_info)
        for key, value in self._backend_info.items():
            self.get_logger().info(f"{key}: {value}")
        self._max_pixels = int(self.param("max_image_pixels"))
        self._loop = TrackingLoop(
            TargetSet(tracker, max_targets),
            decode=lambda msg: image_to_rgb(msg, self._max_pixels),
            publish=self._publish,
            cache_size=int(self.param("frame_cache_size")),
            log=self._log,
        )
        self._apply_track_parameters({})
        self._pubs = {
            "detection": self.create_lifecycle_publisher(Detection2D, "~/detection", 10),
            "detections": self.create_lifecycle_publisher(Detection2DArray, "~/detections", 10),
            "status": self.create_lifecycle_publisher(TrackerStatus, "~/status", STATUS_QOS),
            "statuses": self.create_lifecycle_publisher(TrackerStatusArray, "~/statuses", STATUS_QOS),
            "debug_image": self.create_lifecycle_publisher(Image, "~/debug_image", 2),
        }
        self.get_logger().info(f"configured: model {self._model}, backend {self._backend}")

    def activate(self) -> None:
        compressed = bool(self.param("use_compressed"))
        image_topic = self.resolve_topic_name("image/compressed" if compressed else "image")
        camera_info_topic = self.resolve_topic_name("camera_info")
        self._subs = [
            self.create_subscription(
                CompressedImage if compressed else Image,
                image_topic,
                self._on_image,
                self._image_qos(),
                event_callbacks=self._incompatible_qos.callbacks(image_topic),
                qos_overriding_options=overridable(),
            ),
            self.create_subscription(Detection2D, "~/init_detection", self._on_init_detection, 10),
            self.create_subscription(Detection2DArray, "~/init_detections", self._on_init_detections, 10),
            self.create_subscription(PointStamped, "~/init_point", self._on_init_point, 10),
            self.create_subscription(
                CameraInfo,
                camera_info_topic,
                self._on_camera_info,
                self._image_qos(),
                event_callbacks=self._incompatible_qos.callbacks(camera_info_topic),
                qos_overriding_options=overridable(),
            ),
        ]
        self._loop.start()
        self._active = True
        self.get_logger().info(f"active: tracking on {self._subs[0].topic_name}")

    def release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._loop = None

    def halt(self, reason: str) -> None:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._loop is not None:
            self._loop.halt(reason)
        self._state_name = "IDLE"

    def _log(self, level: str, text: str) -> None:
        """What the tracking loop reports, into the log (and errors into diagnostics)."""
        if not self.context.ok():
            return  # shutting down: nothing to report to
        # one call site per severity and throttle: rclpy refuses changing them at a call site
        if level == "error":
            self._last_error = text
            if text.startswith("image rejected"):
                self.get_logger().error(text, throttle_duration_sec=1.0)
            else:
                self.get_logger().error(text)
        elif level == "warning":
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def _image_qos(self) -> QoSProfile:
        reliability = str(self.param("image_qos_reliability"))
        policies = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
        if reliability not in policies:
            raise ValueError(f"image_qos_reliability must be best_effort or reliable, got '{reliability}'")
        depth = int(self.param("image_qos_depth"))
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=max(depth, 1), reliability=policies[reliability]
        )

    def _on_set_parameters(self, params) -> SetParametersResult:
        new = {p.name: p.value for p in params}
        for name in ("lost_threshold", "recover_threshold"):
            if name in new and not 0.0 <= float(new[name]) <= 1.0:
                return SetParametersResult(successful=False, reason=f"{name} must lie in [0, 1]")
        alias = float(new.get("score_threshold", -1.0))
        if alias != -1.0 and not 0.0 <= alias <= 1.0:
            return SetParametersResult(successful=False, reason="score_threshold must lie in [0, 1] (or -1)")
        if "max_lost_frames" in new and int(new["max_lost_frames"]) < 0:
            return SetParametersResult(successful=False, reason="max_lost_frames must be >= 0")
        if "handoff_policy" in new:
            try:
                HandoffPolicy.parse(str(new["handoff_policy"]))
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        if "point_box_size" in new and not float(new["point_box_size"]) >= 2.0:
            return SetParametersResult(successful=False, reason="point_box_size must be at least 2 px")
        try:
            self._reacquire_settings(new)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._apply_track_parameters(new)
        return SetParametersResult(successful=True)

    def _reacquire_settings(self, new: dict) -> ReacquireSettings:
        return ReacquireSettings(
            int(self.param("reacquire_after", new)),
            int(self.param("reacquire_windows_per_frame", new)),
            float(self.param("reacquire_threshold", new)),
        )

    def _apply_track_parameters(self, new: dict) -> None:
        """Thresholds and the LOST policy onto every target (at configure and at run time)."""
        if self._loop is None:
            return
        lost = float(self.param("lost_threshold", new))
        alias = float(self.param("score_threshold", new))
        if alias >= 0.0:
            lost = alias
            self.get_logger().warning("score_threshold is deprecated: set lost_threshold instead")
        recover = float(self.param("recover_threshold", new))
        max_lost = int(self.param("max_lost_frames", new))
        self._loop.targets.configure(lost, recover, max_lost, self._reacquire_settings(new))

    # ------------------------------------------------------------------ inputs
    def _on_image(self, msg: Image | CompressedImage) -> None:
        frame = Frame(msg, stamp_to_ns(msg.header.stamp), time.monotonic())
        self._input_rate.tick(frame.arrival)
        self._loop.push(frame)

    def _on_init(self, request: InitTarget.Request, response: InitTarget.Response) -> InitTarget.Response:
        ok, message, track_id = self._request_init(
            request.header.stamp, request.bbox, request.label, request.track_id
        )
        response.success, response.message, response.track_id = ok, message, track_id
        return response

    def _on_init_detection(self, msg: Detection2D) -> None:
        ok, message, _ = self._request_init(msg.header.stamp, msg.bbox, detection_label(msg))
        if ok:  # refusals are logged by _request_init (rclpy wants one severity per call site)
            self.get_logger().info(f"init_detection: {message}")

    def _on_init_detections(self, msg: Detection2DArray) -> None:
        """A detector's frame: starts a track when IDLE (by `handoff_policy`), re-acquires a LOST
        track on a detection of its label, and is ignored while TRACKING (a detector that
        publishes continuously must not restart the track every frame)."""
        state = self._state_name
        if state == "TRACKING":
            self._loop.count("handoff_ignored")
            return
        ok, message, _ = self._guarded(lambda: self._prepare_handoff(msg, reacquire=state == "LOST"))
        if ok:
            self.get_logger().info(f"init_detections: {message}")
        else:
            self._refused("init_detections", message)

    def _on_init_point(self, msg: PointStamped) -> None:
        def prepare() -> tuple[bool, str, str]:
            frame, size = self._resolve_frame(msg.header.stamp)
            return self._submit_point(frame, size, float(msg.point.x), float(msg.point.y), "", new_track_id())

        ok, message, _ = self._guarded(prepare)
        if ok:
            self.get_logger().info(f"init_point: {message}")
        else:
            self._refused("init_point", message)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            model = camera_model(msg, bool(self.param("rectified_input")))
        except CameraModelError as exc:
            if self._camera is not None or not self._camera_info_status.startswith("invalid"):
                self._last_error = f"camera_info refused: {exc}"
                self.get_logger().warning(f"{self._last_error}; bearings unavailable")
            self._camera, self._camera_info_status = None, f"invalid: {exc}"
            return
        self._camera, self._camera_info_status = model, f"ok ({model.describe()})"

    def _request_init(self, stamp, bbox, label: str, track_id: str = "") -> tuple[bool, str, str]:
        """Validate an init request and hand it to the loop; (success, message, track_id).
        track_id: re-initialize that target (empty: a new one, or the one of max_targets 1)."""

        def prepare() -> tuple[bool, str, str]:
            box = bbox_to_xywh(bbox)
            frame, size = self._resolve_frame(stamp)
            if track_id:
                self._loop.targets.get(track_id)  # UnknownTargetError (a LookupError) when not tracked
            if bbox.size_x == 0 and bbox.size_y == 0:  # a point: the box is fitted to the object there
                x, y = bbox.center.position.x, bbox.center.position.y
                return self._submit_point(
                    frame, size, x, y, label, track_id or new_track_id(), bool(track_id)
                )
            return self._submit_init(
                frame, size, box, label, track_id or new_track_id(), existing=bool(track_id)
            )

        ok, message, track_id = self._guarded(prepare)
        if not ok:
            self._refused("init", message)
        return ok, message, track_id

    def _guarded(self, prepare) -> tuple[bool, str, str]:
        """Run a request's checks: expected refusals and any bug become a refusal with a reason."""
        if not self._active:
            return False, f"{NOT_ACTIVE} (state: {self.lifecycle}); activate it first", ""
        try:
            ok, message, track_id = prepare()
        except (InvalidBoxError, LookupError, ImageDecodeError) as exc:
            ok, message, track_id = False, str(exc), ""
        except Exception as exc:  # noqa: BLE001 - a bad request must never take the node down
            ok, message, track_id = False, f"internal error: {exc!r}", ""
        self._loop.count("init_accepted" if ok else "init_rejected")
        return ok, message, track_id

    def _refused(self, source: str, message: str) -> None:
        self._last_error = f"{source} rejected: {message}"
        self.get_logger().warning(self._last_error)

    def _resolve_frame(self, stamp) -> tuple[Frame, tuple[int, int]]:
        """The cached frame a request names (stamp 0: the newest) and its size, from headers only
        (this runs on the executor thread; the loop's worker decodes)."""
        tolerance = seconds_to_ns(float(self.param("init_stamp_tolerance")))
        _, frame = self._loop.resolve(stamp_to_ns(stamp), tolerance)
        return frame, image_size(frame.msg, self._max_pixels)

    def _prepare_handoff(self, msg: Detection2DArray, reacquire: bool) -> tuple[bool, str, str]:
        if not msg.detections:
            return False, "empty Detection2DArray: no target to hand off", ""
        stamp = msg.header.stamp
        if stamp_to_ns(stamp) == 0:
            stamp = msg.detections[0].header.stamp
        frame, size = self._resolve_frame(stamp)
        usable, skipped = candidates(msg)
        policy = HandoffPolicy.parse(str(self.param("handoff_policy")))
        primary = self._loop.targets.primary
        label = primary.label if reacquire and primary else None
        chosen = choose(usable, policy, size, self._last_box, label=label)
        if chosen is None:
            why = f"label '{label}' of the lost track" if reacquire else f"policy {policy.kind}{policy.label}"
            return False, f"no detection qualifies ({why}; skipped: {skipped or 'none'})", ""
        track_id = primary.track_id if reacquire and primary else new_track_id()
        return self._submit_init(frame, size, chosen.box, chosen.label, track_id, reacquire)

    def _submit_init(
        self,
        frame: Frame,
        size: tuple[int, int],
        box: np.ndarray,
        label: str,
        track_id: str,
        reacquire: bool = False,
        existing: bool = False,
    ) -> tuple[bool, str, str]:
        used = validate_box(box, size, self._loop.targets.tracker.box_limits)
        self._loop.submit_init(InitRequest(frame, used, label, track_id, reacquire, existing))
        clipped = "" if np.allclose(used, box) else f" (clipped to {np.round(used, 1).tolist()})"
        what = f"re-acquiring {track_id}" if reacquire else "accepted"
        return True, f"{what} on {self._which_frame(frame)}{clipped}", track_id

    def _which_frame(self, frame: Frame) -> str:
        """The frame a request was applied to, as an operator reads it: how old, then the stamp."""
        age = self._loop.age_s(frame)
        when = "the newest frame" if age == 0 else f"a frame {age:.2f} s older than the newest"
        return f"{when} (stamped {format_stamp(frame.stamp_ns)})"

    def _submit_point(
        self,
        frame: Frame,
        size: tuple[int, int],
        x: float,
        y: float,
        label: str,
        track_id: str,
        existing=False,
    ) -> tuple[bool, str, str]:
        """An init at a point: the loop fits the box to the object under it on the frame (the
        point_box_size square when nothing fits)."""
        square = validate_box(
            point_box(x, y, float(self.param("point_box_size")), size),
            size,
            self._loop.targets.tracker.box_limits,
        )
        self._loop.submit_init(InitRequest(frame, square, label, track_id, existing=existing, point=(x, y)))
        return (
            True,
            f"accepted the point ({x:.0f}, {y:.0f}) on {self._which_frame(frame)}: "
            "the box is fitted to the object there",
            track_id,
        )

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self._active:
            response.success = False
            response.message = f"{NOT_ACTIVE} (state: {self.lifecycle})"
            return response
        self._loop.request_stop("stopped by ~/stop")
        response.success = True
        response.message = "tracking stopped; state IDLE from the next frame"
        return response

    def _on_remove(
        self, request: RemoveTarget.Request, response: RemoveTarget.Response
    ) -> RemoveTarget.Response:
        """Stop one target; the others go on."""
        if not self._active:
            response.success, response.message = False, f"{NOT_ACTIVE} (state: {self.lifecycle})"
            return response
        try:
            self._loop.request_remove(request.track_id)
        except LookupError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.message = f"removing {request.track_id}; gone from the next frame"
        return response

    # ------------------------------------------------------------------ outputs
    def _publish(self, frame: Frame, rgb: np.ndarray, outcomes: dict[str, StepOutcome]) -> None:
        """~/detections and ~/statuses carry every target; ~/detection and ~/status the primary
        (called by the loop's worker for every processed frame)."""
        header = frame.msg.header
        primary = self._loop.primary(outcomes)
        detections = Detection2DArray(header=header)
        for outcome in outcomes.values():
            if outcome.state == TrackState.TRACKING:
                det = make_detection(header, outcome.box, outcome.score, outcome.label, outcome.track_id)
                detections.detections.append(det)
                if outcome is primary:
                    self._pubs["detection"].publish(det)
        self._pubs["detections"].publish(detections)
        processing_ms = (time.monotonic() - frame.arrival) * 1e3
        stamp_ms = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e6
        self._processing_ms.add(processing_ms)
        self._latency_ms.add(stamp_ms)
        self._state_name = primary.state.name
        if primary.box is not None:
            self._last_box = primary.box
        size = (rgb.shape[1], rgb.shape[0])
        statuses = [
            make_status(header, o.box, self._status_fields(o, size, processing_ms, stamp_ms))
            for o in (outcomes.values() if outcomes else [primary])
        ]
        self._pubs["status"].publish(statuses[0])
        self._pubs["statuses"].publish(TrackerStatusArray(header=header, statuses=statuses))
        debug_pub = self._pubs["debug_image"]
        if debug_pub.get_subscription_count() > 0:
            drawn = rgb
            for outcome in outcomes.values() or [primary]:
                drawn = draw_track(drawn, outcome)
            debug_pub.publish(rgb_to_image(drawn, header))

    def _status_fields(self, outcome: StepOutcome, size, processing_ms: float, stamp_ms: float) -> dict:
        return status_fields(
            outcome,
            size,
            self._loop.targets.tracker.score_threshold,
            self._model,
            self._backend,
            processing_ms,
            stamp_ms,
            self._bearing(outcome.box, size),
        )

    def _target_diagnostics(self) -> dict[str, object]:
        if self._loop is None:
            return {}
        targets = self._loop.targets
        stats = targets.reacquire_stats
        return {
            "max_targets": targets.max_targets,
            "targets": len(targets.ids()),
            "target_ids": " ".join(targets.ids()),
            "reacquire_frames_searched": stats.frames_searched,
            "reacquire_windows_scored": stats.windows_scored,
            "reacquired_by_search": stats.reacquired,
            "reacquire_last_best_score": stats.last_best_score,
        }

    def _bearing(self, box: np.ndarray | None, size: tuple[int, int]) -> tuple[float, float] | None:
        camera = self._camera
        if box is None or camera is None:
            return None
        if camera.image_size != size:
            self._camera_info_status = f"for {camera.describe()}, but images are {size[0]}x{size[1]}"
            return None
        return camera.bearing(*centre(box))

    # ------------------------------------------------------------------ diagnostics
    def health(self) -> Health:
        loop = self._loop
        counters = loop.counters if loop is not None else LoopCounters()
        lifecycle = self.lifecycle
        level, summary = DiagnosticStatus.OK, f"{lifecycle}, {self._state_name}"
        selection = self._backend_info.get("backend_selection", "")
        refused = [part.split(":")[0] for part in selection.split("; ") if ": refused" in part]
        if refused:
            # running, but on a fallback: an accelerated engine failed verification (a GPU one is an
            # ERROR; OpenVINO's bf16/f16 on a CPU, which falls back to f32 or another runtime, a WARN)
            gpu = any(not name.startswith("openvino") for name in refused)
            level = DiagnosticStatus.ERROR if gpu else DiagnosticStatus.WARN
            summary = f"{lifecycle}, {self._state_name} on {self._backend}; {selection}"
        elif lifecycle != "active":
            level = DiagnosticStatus.WARN
        elif self._incompatible_qos.events:  # first: it explains why no images arrive
            level = DiagnosticStatus.WARN
            summary = f"{lifecycle}, {self._state_name}; incompatible QoS on {self._incompatible_qos.last}"
        elif self._input_rate.rate() == 0.0:
            level, summary = (
                DiagnosticStatus.WARN,
                f"no images on {self._subs[0].topic_name}" if self._subs else "no images",
            )
        elif self._state_name == "LOST":
            level = DiagnosticStatus.WARN
        latency = self._latency_ms.summary()
        values: dict[str, object] = {
            "state": self._state_name,
            "model": self._model,
            "backend": self._backend,
            "input_rate_hz": self._input_rate.rate(),
            "output_rate_hz": loop.output_rate.rate() if loop is not None else 0.0,
            "latency_from_stamp_ms": latency["median"],
            "latency_from_stamp_p90_ms": latency["p90"],
            "processing_latency_ms": self._processing_ms.summary()["median"],
            **counters.diagnostics(),
            "camera_info": self._camera_info_status,
            "max_image_pixels": self._max_pixels,
            **self._incompatible_qos.diagnostics(),
            **self._target_diagnostics(),
        }
        for stage in STAGES:
            window = loop.stage_ms[stage] if loop is not None else SampleWindow(1)
            values[f"{stage}_ms"] = window.summary()["median"]
        values.update(self._backend_info)  # backend_selection, verification_iou, engine, preprocess
        values["last_error"] = self._last_error
        return Health(level, summary, self._model or "none", values)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros tracker_node`)."""
    return spin_node(TrackerNode, lambda node: node.halt("shut down"), args)
