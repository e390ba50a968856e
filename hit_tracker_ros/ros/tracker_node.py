"""The lifecycle node `hit_tracker`: images in; Detection2D, TrackerStatus and diagnostics out.

Threads: one executor thread runs the image/detection subscriptions, the services and the
diagnostics timer; one worker thread runs decoding and tracking. The image callback only judges
the stamp and stores the message (in the frame cache and as the pending frame), and the services
only read headers, so a service never waits for a decode or for inference, and a slow tracker
processes the newest frame while the frames in between are dropped and counted.

One rule for frames: a frame that cannot be used (undecodable, over the pixel budget, late, a
stamp outlier) is refused with a reason and counted, and the running track goes on; an exception
of the tracker on a usable frame ends the track with the reason in the status message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from hit_tracker_ros.msg import TrackerStatus, TrackerStatusArray
from hit_tracker_ros.srv import InitTarget, RemoveTarget

from ..backends.options import BackendOptions
from ..core.annotate import draw_track
from ..core.bearing import CameraModel, CameraModelError
from ..core.boxes import InvalidBoxError, centre, validate_box
from ..core.frame_cache import FrameCache
from ..core.handoff import HandoffPolicy, choose
from ..core.images import DEFAULT_MAX_IMAGE_PIXELS, ImageDecodeError
from ..core.reacquire import ReacquireSettings
from ..core.registry import build_tracker
from ..core.session import StepOutcome, idle_outcome, new_track_id
from ..core.stamp_policy import StampPolicy
from ..core.stamps import format_stamp, seconds_to_ns
from ..core.stats import RateMeter, SampleWindow
from ..core.status import status_fields
from ..core.targets import TargetLimitError, TargetSet
from ..core.timing import StageTimer
from ..core.types import TrackState
from ..trackers.multi import batch_needed
from .camera_info import camera_model
from .conversions import bbox_to_xywh, image_size, image_to_rgb, make_detection, rgb_to_image, stamp_to_ns
from .init_inputs import candidates, detection_label, point_box
from .input_qos import IncompatibleQos, overridable
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import PARAMETERS
from .refusals import NOT_ACTIVE
from .status import STAGES, make_status

SERVICE_QUEUE_DEPTH = 200


@dataclass
class _Frame:
    msg: Image | CompressedImage
    stamp_ns: int
    arrival: float  # time.monotonic() at reception


@dataclass
class _InitRequest:
    frame: _Frame
    box: np.ndarray  # validated against the frame's header size and the tracker's box limits
    label: str
    track_id: str  # the target's id: new, or the one to re-initialize (`existing`)
    reacquire: bool = False  # re-initialize the running (LOST) track `track_id` instead
    existing: bool = False  # `track_id` names a current target (InitTarget with a track_id)


class TrackerNode(ManagedNode):
    """Single-target tracker as a ROS 2 lifecycle node."""

    role = "tracker"

    def __init__(self, node_name: str = "hit_tracker", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(
                spec.name,
                spec.default,
                ParameterDescriptor(description=spec.description, read_only=spec.read_only),
            )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._cond = threading.Condition()
        self._cache: FrameCache[_Frame] = FrameCache(1)
        self._stamps: StampPolicy[_Frame] = StampPolicy()
        self._pending_frames: list[_Frame] = []
        self._pending_inits: list[_InitRequest] = []
        self._applying_inits: list[_InitRequest] = []  # taken by the worker, not yet applied
        self._pending_removals: list[str] = []
        self._pending_stop: str | None = None
        self._pending_clock_reset = False
        self._max_pixels = DEFAULT_MAX_IMAGE_PIXELS
        self._targets: TargetSet | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._active = False
        self._last_stamp_ns = -1
        self._pubs: dict[str, object] = {}
        self._subs: list[object] = []
        self._model = self._backend = ""
        self._backend_info: dict[str, str] = {}
        self._camera: CameraModel | None = None
        self._camera_info_status = "none received"
        self._last_box: np.ndarray | None = None  # of the most recent track (nearest_previous)
        self.config_error = ""
        self._last_error = ""
        self._incompatible_qos = IncompatibleQos(self.get_logger())
        self._counts = dict.fromkeys(
            (
                "received",
                "processed",
                "dropped",
                "rejected",
                "out_of_order",
                "stamp_outliers",
                "clock_resets",
                "init_accepted",
                "init_rejected",
                "init_superseded",
                "init_failed",
                "handoff_ignored",
                "reacquired",
            ),
            0,
        )
        self._stage_ms = {stage: SampleWindow(100) for stage in STAGES}
        self._latency_ms = SampleWindow(100)
        self._processing_ms = SampleWindow(100)
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._state_name = "IDLE"

        # Deep request queues: a burst of calls (a UI, a detector) must not lose requests.
        service_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=SERVICE_QUEUE_DEPTH)
        self.create_service(InitTarget, "~/init", self._on_init, qos_profile=service_qos)
        self.create_service(Trigger, "~/stop", self._on_stop, qos_profile=service_qos)
        self.create_service(RemoveTarget, "~/remove", self._on_remove, qos_profile=service_qos)

        self.start(float(self.param("diagnostics_period")))

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        param = lambda name: self.get_parameter(name).value  # noqa: E731
        tracker_options = {}
        if float(param("search_factor")) > 0:
            tracker_options["search_factor"] = float(param("search_factor"))
        if int(param("update_interval")) > 0:
            tracker_options["update_interval"] = int(param("update_interval"))
        self._image_qos()
        max_targets = int(param("max_targets"))
        if max_targets < 1:
            raise ValueError(f"max_targets must be >= 1, got {max_targets}")
        backend_options = {name: param(name) for name in BackendOptions.names()}
        needed = batch_needed(max_targets, self._reacquire_settings({}))
        backend_options["max_batch"] = max(int(backend_options["max_batch"]), needed)
        tracker = build_tracker(
            param("model"),
            checkpoint=param("checkpoint") or None,
            backend=param("backend"),
            **backend_options,
            **tracker_options,
        )
        self._model, self._backend = tracker.model, tracker.backend
        self._backend_info = dict(tracker.backend_info)
        for key, value in self._backend_info.items():
            self.get_logger().info(f"{key}: {value}")
        self._targets = TargetSet(tracker, max_targets)
        self._apply_track_parameters({})
        self._cache = FrameCache(max(int(param("frame_cache_size")), 1))
        self._max_pixels = int(param("max_image_pixels"))
        self._pubs = {
            "detection": self.create_lifecycle_publisher(Detection2D, "~/detection", 10),
            "detections": self.create_lifecycle_publisher(Detection2DArray, "~/detections", 10),
            "status": self.create_lifecycle_publisher(TrackerStatus, "~/status", 10),
            "statuses": self.create_lifecycle_publisher(TrackerStatusArray, "~/statuses", 10),
            "debug_image": self.create_lifecycle_publisher(Image, "~/debug_image", 2),
        }
        self.get_logger().info(f"configured: model {self._model}, backend {self._backend}")

    def activate(self) -> None:
        compressed = bool(self.get_parameter("use_compressed").value)
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
        self._last_stamp_ns = -1
        self._stamps.reset()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="hit_tracker_worker", daemon=True)
        self._worker.start()
        self._active = True
        self.get_logger().info(f"active: tracking on {self._subs[0].topic_name}")

    def release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._targets = None

    def halt(self, reason: str) -> None:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        with self._cond:
            self._running = False
            self._pending_frames, self._pending_inits, self._pending_removals = [], [], []
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._targets is not None:
            self._targets.stop_all(reason)
        self._state_name = "IDLE"
        self._cache.clear()

    def _image_qos(self) -> QoSProfile:
        reliability = str(self.get_parameter("image_qos_reliability").value)
        policies = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
        if reliability not in policies:
            raise ValueError(f"image_qos_reliability must be best_effort or reliable, got '{reliability}'")
        depth = int(self.get_parameter("image_qos_depth").value)
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

    def _value(self, new: dict, name: str):
        """A parameter's value: from a set-parameters request being applied, else the current one."""
        return new[name] if name in new else self.get_parameter(name).value

    def _reacquire_settings(self, new: dict) -> ReacquireSettings:
        return ReacquireSettings(
            int(self._value(new, "reacquire_after")),
            int(self._value(new, "reacquire_windows_per_frame")),
            float(self._value(new, "reacquire_threshold")),
        )

    def _apply_track_parameters(self, new: dict) -> None:
        """Thresholds and the LOST policy onto every target (at configure and at run time)."""
        if self._targets is None:
            return
        lost = float(self._value(new, "lost_threshold"))
        alias = float(self._value(new, "score_threshold"))
        if alias >= 0.0:
            lost = alias
            self.get_logger().warning("score_threshold is deprecated: set lost_threshold instead")
        recover = float(self._value(new, "recover_threshold"))
        max_lost = int(self._value(new, "max_lost_frames"))
        self._targets.configure(lost, recover, max_lost, self._reacquire_settings(new))

    # ------------------------------------------------------------------ inputs
    def _on_image(self, msg: Image | CompressedImage) -> None:
        frame = _Frame(msg, stamp_to_ns(msg.header.stamp), time.monotonic())
        self._input_rate.tick(frame.arrival)
        with self._cond:
            self._counts["received"] += 1
            decision = self._stamps.push(frame.stamp_ns, frame)
            self._counts["out_of_order"] += decision.late
            self._counts["stamp_outliers"] += decision.outliers
            if decision.clock_reset:
                self._counts["clock_resets"] += 1
                self._cache.clear()
                self._pending_clock_reset = True
                self._pending_inits = []
            if not decision.accept:
                return
            for stamp_ns, accepted in decision.accept:
                self._cache.add(stamp_ns, accepted)
            self._counts["dropped"] += len(self._pending_frames)
            self._pending_frames = [accepted for _, accepted in decision.accept]
            self._cond.notify_all()

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
            with self._cond:
                self._counts["handoff_ignored"] += 1
            return
        ok, message, _ = self._guarded(lambda: self._prepare_handoff(msg, reacquire=state == "LOST"))
        if ok:
            self.get_logger().info(f"init_detections: {message}")
        else:
            self._refused("init_detections", message)

    def _on_init_point(self, msg: PointStamped) -> None:
        def prepare() -> tuple[bool, str, str]:
            stamp_ns, frame, size = self._resolve_frame(msg.header.stamp)
            side = float(self.get_parameter("point_box_size").value)
            return self._submit_init(stamp_ns, frame, size, point_box(msg, side, size), "", new_track_id())

        ok, message, _ = self._guarded(prepare)
        if ok:
            self.get_logger().info(f"init_point: {message}")
        else:
            self._refused("init_point", message)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            model = camera_model(msg, bool(self.get_parameter("rectified_input").value))
        except CameraModelError as exc:
            if self._camera is not None or not self._camera_info_status.startswith("invalid"):
                self._last_error = f"camera_info refused: {exc}"
                self.get_logger().warning(f"{self._last_error}; bearings unavailable")
            self._camera, self._camera_info_status = None, f"invalid: {exc}"
            return
        self._camera, self._camera_info_status = model, f"ok ({model.describe()})"

    def _request_init(self, stamp, bbox, label: str, track_id: str = "") -> tuple[bool, str, str]:
        """Validate an init request and hand it to the worker; (success, message, track_id).
        track_id: re-initialize that target (empty: a new one, or the one of max_targets 1)."""

        def prepare() -> tuple[bool, str, str]:
            box = bbox_to_xywh(bbox)
            stamp_ns, frame, size = self._resolve_frame(stamp)
            if track_id:
                self._targets.get(track_id)  # UnknownTargetError (a LookupError) when it is not tracked
                return self._submit_init(stamp_ns, frame, size, box, label, track_id, existing=True)
            return self._submit_init(stamp_ns, frame, size, box, label, new_track_id())

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
        with self._cond:
            self._counts["init_accepted" if ok else "init_rejected"] += 1
        return ok, message, track_id

    def _refused(self, source: str, message: str) -> None:
        self._last_error = f"{source} rejected: {message}"
        self.get_logger().warning(self._last_error)

    def _resolve_frame(self, stamp) -> tuple[int, _Frame, tuple[int, int]]:
        """The cached frame a request names (stamp 0: the newest) and its size, from headers only
        (this runs on the executor thread; the worker decodes)."""
        stamp_ns = stamp_to_ns(stamp)
        tolerance = seconds_to_ns(float(self.get_parameter("init_stamp_tolerance").value))
        with self._cond:
            stamp_ns, frame = self._cache.newest() if stamp_ns == 0 else self._cache.find(stamp_ns, tolerance)
        return stamp_ns, frame, image_size(frame.msg, self._max_pixels)

    def _prepare_handoff(self, msg: Detection2DArray, reacquire: bool) -> tuple[bool, str, str]:
        if not msg.detections:
            return False, "empty Detection2DArray: no target to hand off", ""
        stamp = msg.header.stamp
        if stamp_to_ns(stamp) == 0:
            stamp = msg.detections[0].header.stamp
        stamp_ns, frame, size = self._resolve_frame(stamp)
        usable, skipped = candidates(msg)
        policy = HandoffPolicy.parse(str(self.get_parameter("handoff_policy").value))
        primary = self._targets.primary
        label = primary.label if reacquire and primary else None
        chosen = choose(usable, policy, size, self._last_box, label=label)
        if chosen is None:
            why = f"label '{label}' of the lost track" if reacquire else f"policy {policy.kind}{policy.label}"
            return False, f"no detection qualifies ({why}; skipped: {skipped or 'none'})", ""
        track_id = primary.track_id if reacquire and primary else new_track_id()
        return self._submit_init(stamp_ns, frame, size, chosen.box, chosen.label, track_id, reacquire)

    def _submit_init(
        self,
        stamp_ns: int,
        frame: _Frame,
        size: tuple[int, int],
        box: np.ndarray,
        label: str,
        track_id: str,
        reacquire: bool = False,
        existing: bool = False,
    ) -> tuple[bool, str, str]:
        used = validate_box(box, size, self._targets.tracker.box_limits)
        request = _InitRequest(frame, used, label, track_id, reacquire, existing)
        with self._cond:
            self._queue_init(request)
            self._cond.notify_all()
        clipped = "" if np.allclose(used, box) else f" (clipped to {np.round(used, 1).tolist()})"
        what = f"re-acquiring {track_id}" if reacquire else "accepted"
        return True, f"{what} on the frame stamped {format_stamp(stamp_ns)}{clipped}", track_id

    def _queue_init(self, request: _InitRequest) -> None:
        """Queue an init for the worker (holding self._cond). One target (max_targets 1): the last
        request wins. Several: a request for a target replaces an older one for the same target,
        and a new target needs a free place (counting the new targets already queued)."""
        targets = self._targets
        if targets.max_targets == 1:
            superseded, self._pending_inits = self._pending_inits, [request]
        else:
            same = [r for r in self._pending_inits if r.track_id == request.track_id]
            superseded = same
            self._pending_inits = [r for r in self._pending_inits if r.track_id != request.track_id]
            if not (request.existing or request.reacquire):
                coming = self._pending_inits + self._applying_inits
                taken = set(targets.ids()) | {r.track_id for r in coming if not (r.existing or r.reacquire)}
                if len(taken) >= targets.max_targets:
                    raise TargetLimitError(
                        f"all {targets.max_targets} targets are tracked (max_targets); remove one "
                        "(~/remove) or give the track_id of the one to re-initialize"
                    )
            self._pending_inits.append(request)
        self._counts["init_superseded"] += len(superseded)

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self._active:
            response.success = False
            response.message = f"{NOT_ACTIVE} (state: {self.lifecycle})"
            return response
        with self._cond:
            self._pending_inits, self._pending_removals = [], []
            self._pending_stop = "stopped by ~/stop"
            self._cond.notify_all()
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
            self._targets.get(request.track_id)
        except LookupError as exc:
            response.success, response.message = False, str(exc)
            return response
        with self._cond:
            self._pending_inits = [r for r in self._pending_inits if r.track_id != request.track_id]
            self._pending_removals.append(request.track_id)
            self._cond.notify_all()
        response.success = True
        response.message = f"removing {request.track_id}; gone from the next frame"
        return response

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._has_work():
                    self._cond.wait()
                if not self._running:
                    return
                frames, inits, stop = self._pending_frames, self._pending_inits, self._pending_stop
                removals, clock_reset = self._pending_removals, self._pending_clock_reset
                self._pending_frames, self._pending_inits, self._pending_stop = [], [], None
                self._pending_removals, self._pending_clock_reset = [], False
                self._applying_inits = list(inits)
            try:
                if clock_reset:
                    self._targets.stop_all("stopped: image stamps jumped back (clock reset)")
                    self._last_stamp_ns = -1
                if stop:
                    self._targets.stop_all(stop)
                for track_id in removals:
                    self._remove(track_id)
                for init in inits:
                    try:
                        self._apply_init(init)
                    finally:
                        with self._cond:
                            self._applying_inits.remove(init)
                for frame in frames:
                    self._process(frame)
            except Exception as exc:  # noqa: BLE001 - keep the node alive, report the failure
                with self._cond:
                    self._applying_inits = []  # not applied: they hold no place
                if not self.context.ok():
                    return  # shutting down: publishers are gone, nothing to report
                self._last_error = f"internal error: {exc!r}"
                self.get_logger().error(self._last_error)

    def _has_work(self) -> bool:
        pending = (
            self._pending_frames,
            self._pending_inits,
            self._pending_removals,
            self._pending_stop,
            self._pending_clock_reset,
        )
        return any(pending)

    def _remove(self, track_id: str) -> None:
        try:
            self._targets.remove(track_id, "removed by ~/remove")
        except LookupError:
            return  # it ended meanwhile
        self.get_logger().info(f"removed target {track_id}")

    def _apply_init(self, init: _InitRequest) -> None:
        """Initialize on the requested frame, then track silently through the cached frames that
        were already published, so the next published frame continues from the operator's box."""
        targets = self._targets
        try:
            session = targets.get(init.track_id) if (init.reacquire or init.existing) else None
        except LookupError:
            return  # that target ended meanwhile
        if init.reacquire and session.state != TrackState.LOST:
            return  # the track recovered meanwhile: nothing to re-acquire
        try:
            rgb = image_to_rgb(init.frame.msg, self._max_pixels)
            if init.reacquire:
                session.reacquire(rgb, init.box, "re-acquired by detector")
            else:
                targets.start(rgb, init.box, init.label, init.track_id, existing=init.existing)
                session = targets.get(init.track_id)
        except Exception as exc:  # noqa: BLE001 - undecodable data behind a valid header, tracker error
            stamp = format_stamp(init.frame.stamp_ns)
            reason = f"track {init.track_id} could not start on the frame stamped {stamp}: {exc}"
            if targets.max_targets == 1:
                targets.stop_all(reason)
            with self._cond:
                self._counts["init_failed"] += 1
            self._last_error = reason
            self.get_logger().error(reason)
            return
        if init.reacquire:
            with self._cond:
                self._counts["reacquired"] += 1
        with self._cond:
            catch_up = self._cache.between(init.frame.stamp_ns, self._last_stamp_ns)
        for _, frame in catch_up:  # this target only: the others have seen these frames
            try:
                session.step(image_to_rgb(frame.msg, self._max_pixels))
            except ImageDecodeError:
                continue
        what = "re-acquired" if init.reacquire else f"tracking '{init.label}' as"
        since = format_stamp(init.frame.stamp_ns)
        self.get_logger().info(f"{what} {init.track_id} from {since} (caught up over {len(catch_up)} frames)")

    def _process(self, frame: _Frame) -> None:
        if frame.stamp_ns <= self._last_stamp_ns:  # the stamp policy lets none through; stay safe
            with self._cond:
                self._counts["out_of_order"] += 1
            return
        timer = StageTimer()
        try:
            with timer.stage("decode"):
                rgb = image_to_rgb(frame.msg, self._max_pixels)
        except ImageDecodeError as exc:
            with self._cond:
                self._counts["rejected"] += 1
            self._last_error = f"image rejected: {exc}"
            self.get_logger().error(self._last_error, throttle_duration_sec=1.0)
            return
        self._last_stamp_ns = frame.stamp_ns
        outcomes = self._targets.step(rgb)
        for outcome in outcomes.values():
            if outcome.error:
                self._last_error = outcome.error
                self.get_logger().error(f"track {outcome.track_id or ''} ended: {outcome.error}")
        with timer.stage("publish"):
            self._publish(frame, rgb, outcomes)
        with self._cond:
            self._counts["processed"] += 1
        self._output_rate.tick()
        primary = self._primary(outcomes)
        for stage, ms in {**timer.times_ms, **primary.timings_ms}.items():
            if stage in self._stage_ms:
                self._stage_ms[stage].add(ms)

    def _primary(self, outcomes: dict[str, StepOutcome]) -> StepOutcome:
        """The primary target's outcome (the first target's), or IDLE when there is none."""
        if outcomes:
            return next(iter(outcomes.values()))
        return idle_outcome(self._targets.last_message)

    def _publish(self, frame: _Frame, rgb: np.ndarray, outcomes: dict[str, StepOutcome]) -> None:
        """~/detections and ~/statuses carry every target; ~/detection and ~/status the primary."""
        header = frame.msg.header
        primary = self._primary(outcomes)
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
            self._targets.tracker.score_threshold,
            self._model,
            self._backend,
            processing_ms,
            stamp_ms,
            self._bearing(outcome.box, size),
        )

    def _target_diagnostics(self) -> dict[str, object]:
        targets = self._targets
        if targets is None:
            return {}
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
        with self._cond:
            counts = dict(self._counts)
        lifecycle = self.lifecycle
        level, summary = DiagnosticStatus.OK, f"{lifecycle}, {self._state_name}"
        if "refused" in self._backend_info.get("backend_selection", ""):
            # running, but on a fallback: an accelerated engine failed verification
            level = DiagnosticStatus.ERROR
            selection = self._backend_info["backend_selection"]
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
            "output_rate_hz": self._output_rate.rate(),
            "latency_from_stamp_ms": latency["median"],
            "latency_from_stamp_p90_ms": latency["p90"],
            "processing_latency_ms": self._processing_ms.summary()["median"],
            "frames_received": counts["received"],
            "frames_processed": counts["processed"],
            "dropped_frames": counts["dropped"],
            "rejected_frames": counts["rejected"],
            "out_of_order_frames": counts["out_of_order"],
            "stamp_outliers": counts["stamp_outliers"],
            "clock_resets": counts["clock_resets"],
            "init_accepted": counts["init_accepted"],
            "init_rejected": counts["init_rejected"],
            "init_superseded": counts["init_superseded"],
            "init_failed": counts["init_failed"],
            "handoff_ignored_while_tracking": counts["handoff_ignored"],
            "reacquired_by_detector": counts["reacquired"],
            "camera_info": self._camera_info_status,
            "max_image_pixels": self._max_pixels,
            **self._incompatible_qos.diagnostics(),
            **self._target_diagnostics(),
        }
        for stage in STAGES:
            values[f"{stage}_ms"] = self._stage_ms[stage].summary()["median"]
        values.update(self._backend_info)  # backend_selection, verification_iou, engine
        values["last_error"] = self._last_error
        return Health(level, summary, self._model or "none", values)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros tracker_node`)."""
    return spin_node(TrackerNode, lambda node: node.halt("shut down"), args)
