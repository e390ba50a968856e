"""The lifecycle node `web_operator`: the operator page (hit_tracker_ros.web) for a tracker node.

The camera's images go to the page as JPEG at `max_fps`, at most `max_width` wide (decoded and
encoded in a worker thread, never on the executor); the tracker's statuses go as they come. What
the operator does becomes calls of the tracker's `~/init` and `~/stop` and of its `lost_threshold`
parameter, nothing else. The server binds to localhost unless `bind` says otherwise.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import cv2
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from hit_tracker_ros.msg import TrackerStatus, TrackerStatusArray

from ..core.images import DEFAULT_MAX_IMAGE_PIXELS, ImageDecodeError
from ..core.stats import RateMeter
from ..web.requests import InitRequest, PointRequest
from ..web.server import OperatorServer, Outcome
from .conversions import bbox_to_xywh, image_to_rgb, stamp_to_ns
from .input_qos import IncompatibleQos, overridable
from .managed_node import Health, ManagedNode
from .node_main import spin_node
from .parameters import ParameterSpec, defaults
from .tracker_client import Answer, TrackerClient

SERVICE_TIMEOUT_S = 3.0

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("port", 8080, "TCP port of the page"),
    ParameterSpec("bind", "127.0.0.1", "address to listen on (0.0.0.0: every interface; then set a token)"),
    ParameterSpec(
        "token", "", "when set, every request that changes state needs it (open the page with ?token=...)"
    ),
    ParameterSpec(
        "allowed_origins",
        "",
        "other origins whose pages may use this one, comma-separated (a reverse proxy's public "
        "origin, e.g. https://robot.example.org); the page's own origin is always allowed",
    ),
    ParameterSpec("tracker", "/hit_tracker", "the tracker node (its init, stop, status and lost_threshold)"),
    ParameterSpec("max_fps", 10.0, "video frames per second sent to the page"),
    ParameterSpec("max_width", 640, "video frames are scaled down to this width"),
    ParameterSpec("jpeg_quality", 80, "JPEG quality of the video, 1..100"),
    ParameterSpec("init_rate_hz", 2.0, "init requests allowed per second and client (bursts of 5)"),
    ParameterSpec("use_compressed", False, "subscribe to image/compressed instead of image"),
    ParameterSpec("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS, "larger frames are not shown (pixel budget)"),
    ParameterSpec("autostart", True, "configure and activate on startup"),
)


def parameter_defaults() -> dict[str, object]:
    return defaults(PARAMETERS)


class WebOperator(ManagedNode):
    role = "web operator"
    parameters = PARAMETERS

    def __init__(self, node_name: str = "web_operator", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._server: OperatorServer | None = None
        self._tracker: TrackerClient | None = None
        self._subs: list = []
        self._lock = threading.Lock()
        self._latest_image: Image | CompressedImage | None = None
        self._threshold = math.nan
        self._encoder: threading.Thread | None = None
        self._running = threading.Event()
        self._frames_sent = RateMeter()
        self._video_error = ""
        self._incompatible_qos = IncompatibleQos(self.get_logger())
        self.start()

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        for name in ("max_fps", "init_rate_hz"):
            if not float(self.param(name)) > 0:
                raise ValueError(f"{name} must be > 0")
        if not 16 <= int(self.param("max_width")) <= 8192 or not 1 <= int(self.param("jpeg_quality")) <= 100:
            raise ValueError("max_width must lie in 16..8192 and jpeg_quality in 1..100")
        self._tracker = TrackerClient(self, str(self.param("tracker")), SERVICE_TIMEOUT_S)
        self._server = OperatorServer(
            self,
            str(self.param("bind")),
            int(self.param("port")),
            str(self.param("token")),
            float(self.param("init_rate_hz")),
            allowed_origins=_origins(str(self.param("allowed_origins"))),
        )
        try:
            self._server.start()
        except OSError as exc:
            raise OSError(
                f"cannot serve the page on {self.param('bind')}:{self.param('port')}: {exc}"
            ) from exc
        guard = "open it with ?token=<token> to control" if self.param("token") else "no token set"
        address = f"http://{self.param('bind')}:{self.param('port')}/"
        self.get_logger().info(f"operator page on {address} ({guard})")

    def activate(self) -> None:
        tracker = str(self.param("tracker")).rstrip("/")
        compressed = bool(self.param("use_compressed"))
        image_topic = self.resolve_topic_name("image/compressed" if compressed else "image")
        self._subs = [
            self.create_subscription(
                CompressedImage if compressed else Image,
                image_topic,
                self._on_image,
                qos_profile_sensor_data,
                event_callbacks=self._incompatible_qos.callbacks(image_topic),
                qos_overriding_options=overridable(),
            ),
            self.create_subscription(TrackerStatus, f"{tracker}/status", self._on_status, 10),
            self.create_subscription(TrackerStatusArray, f"{tracker}/statuses", self._on_statuses, 10),
        ]
        self._running.set()
        self._encoder = threading.Thread(target=self._encode_loop, name="web_video", daemon=True)
        self._encoder.start()

    def halt(self, reason: str) -> None:
        self._running.clear()
        if self._encoder is not None:
            self._encoder.join(timeout=5)
            self._encoder = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []

    def release(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._tracker is not None:
            self._tracker.destroy()
            self._tracker = None

    # ------------------------------------------------------------------ video and status
    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._lock:
            self._latest_image = msg

    def _encode_loop(self) -> None:
        """At max_fps: the newest image, decoded (pixel budget), scaled, JPEG to the page."""
        period = 1.0 / float(self.param("max_fps"))
        max_width, quality = int(self.param("max_width")), int(self.param("jpeg_quality"))
        budget = int(self.param("max_image_pixels"))
        sent_stamp = None
        while self._running.is_set():
            started = time.monotonic()
            with self._lock:
                msg = self._latest_image
            stamp = stamp_to_ns(msg.header.stamp) if msg is not None else None
            if msg is not None and stamp != sent_stamp and self._server is not None:
                try:
                    rgb = image_to_rgb(msg, budget)
                except ImageDecodeError as exc:
                    self._video_error = f"frame not shown: {exc}"
                else:
                    height, width = rgb.shape[:2]
                    if width > max_width:
                        rgb = cv2.resize(
                            rgb, (max_width, round(height * max_width / width)), interpolation=cv2.INTER_AREA
                        )
                    ok, jpeg = cv2.imencode(
                        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
                    )
                    if ok:
                        self._server.publish_frame(stamp, width, height, jpeg.tobytes())
                        self._frames_sent.tick()
                        sent_stamp = stamp
            time.sleep(max(0.0, period - (time.monotonic() - started)))

    def _on_status(self, msg: TrackerStatus) -> None:
        self._threshold = float(msg.score_threshold)
        if self._server is None:
            return
        self._server.publish_status(
            {
                **_target(msg),
                "stamp_ns": str(stamp_to_ns(msg.header.stamp)),
                "threshold": float(msg.score_threshold),
                "image_size": [int(msg.image_width), int(msg.image_height)],
                "latency_ms": float(msg.processing_latency_ms),
                "message": msg.message,
            }
        )

    def _on_statuses(self, msg: TrackerStatusArray) -> None:
        if self._server is None:
            return
        targets = [_target(s) for s in msg.statuses if s.state != TrackerStatus.IDLE]
        self._server.publish_targets(str(stamp_to_ns(msg.header.stamp)), targets)

    # ------------------------------------------------------------------ OperatorBackend
    def hello(self) -> dict[str, Any]:
        return {"max_fps": float(self.param("max_fps")), "tracker": str(self.param("tracker"))}

    async def init(self, request: InitRequest) -> Outcome:
        return _outcome(await self._tracker.init_async(request.box, request.stamp_ns, request.label))

    async def point(self, request: PointRequest) -> Outcome:
        """A tap: a box of zero size at the point, which the tracker fits to the object there."""
        return await self.init(InitRequest(request.stamp_ns, (request.x, request.y, 0.0, 0.0), "operator"))

    async def remove(self, track_id: str) -> Outcome:
        return _outcome(await self._tracker.remove_async(track_id))

    async def stop(self) -> Outcome:
        return _outcome(await self._tracker.stop_async())

    async def set_threshold(self, value: float) -> Outcome:
        answer = await self._tracker.set_lost_threshold_async(value)
        return Outcome(answer.success, f"score threshold {value:.2f}" if answer.success else answer.message)

    # ------------------------------------------------------------------ diagnostics
    def health(self) -> Health:
        counts = dict(self._server.counts) if self._server else {}
        level, summary = (
            DiagnosticStatus.OK,
            f"{self.lifecycle}, page on {self.param('bind')}:{self.param('port')}",
        )
        if self._incompatible_qos.events:
            level, summary = (
                DiagnosticStatus.WARN,
                f"{summary}; incompatible QoS on {self._incompatible_qos.last}",
            )
        values = {
            "video_fps": self._frames_sent.rate(),
            "video_error": self._video_error,
            "token_required": bool(self.param("token")),
            **counts,
            **self._incompatible_qos.diagnostics(),
        }
        return Health(level, summary, "web", values)


def _origins(text: str) -> tuple[str, ...]:
    """`allowed_origins`: comma-separated, blanks ignored."""
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


def _outcome(answer: Answer) -> Outcome:
    return Outcome(answer.success, answer.message, answer.track_id)


def _target(msg: TrackerStatus) -> dict[str, Any]:
    """What the page draws of one target."""
    return {
        "state": msg.state_name,
        "track_id": msg.track_id,
        "label": msg.label,
        "score": float(msg.score),
        "box": bbox_to_xywh(msg.bbox).tolist() if msg.state != TrackerStatus.IDLE else None,
    }


def _stop(node: WebOperator) -> None:
    node.halt("shut down")
    node.release()


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C (`ros2 run hit_tracker_ros web_operator`)."""
    return spin_node(WebOperator, _stop, args)
