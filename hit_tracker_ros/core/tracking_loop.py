"""The tracker node's scheduling rules without ROS (image_pipeline keeps its algorithms apart from
its nodes the same way): which frames are tracked, which init request wins, how many targets,
catch-up from the frame cache, removals, stop, clock resets, and the counters of all of it.

Two sides, two threads. The input side (`push`, `resolve`, `submit_init`, `request_stop`,
`request_remove`: a ROS executor's callbacks) only judges stamps and queues work, so it never
waits for a decode or an inference. The worker side (`run_pending`, on the loop's own thread)
decodes and tracks: a slow tracker processes the newest frame and the frames in between are
dropped and counted.

The rules:
* frames: the stamp policy (core.stamp_policy) accepts, holds or refuses each frame by its stamp;
  a frame that cannot be used (late, a stamp outlier, undecodable, over the pixel budget) is
  refused with a reason and counted, and the running tracks go on; a clock reset stops every
  track and drops the queued inits;
* inits: with one target the last request wins; with several, a request for a target replaces an
  older queued one for the same target, and a new target needs a free place, counting the new
  targets already queued and being applied;
* points: an init at a point (a tap, a click) gets the box of the object under it, fitted on the
  decoded frame by core.tap_box (the request's square when nothing fits);
* catch-up: an init on an older cached frame is tracked through the cached frames after it that
  were already published, so the next published frame continues from the operator's box;
* stop clears the queued inits and removals; a removal drops that target's queued inits.

Decoding and publishing are passed in: `decode(msg) -> RGB` (ImageDecodeError for a refusal)
and `publish(frame, rgb, outcomes)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

import numpy as np

from .boxes import InvalidBoxError, validate_box
from .frame_cache import FrameCache
from .images import ImageDecodeError
from .session import StepOutcome, idle_outcome
from .stamp_policy import StampPolicy
from .stamps import format_stamp
from .stats import RateMeter, SampleWindow
from .tap_box import BoxFit, fit_box
from .targets import TargetLimitError, TargetSet
from .timing import StageTimer
from .types import TrackState

M = TypeVar("M")  # the camera message (sensor_msgs Image / CompressedImage in the node)
STAGES = ("decode", "preprocess", "inference", "postprocess", "publish")


@dataclass
class Frame(Generic[M]):
    msg: M
    stamp_ns: int
    arrival: float  # time.monotonic() at reception


@dataclass
class InitRequest(Generic[M]):
    """A validated request to (re-)initialize a target on a cached frame."""

    frame: Frame[M]
    box: np.ndarray  # validated against the frame's header size and the tracker's box limits
    label: str
    track_id: str  # the target's id: new, or the one to re-initialize (`existing`)
    reacquire: bool = False  # re-initialize the running (LOST) track `track_id` instead
    existing: bool = False  # `track_id` names a current target (InitTarget with a track_id)
    point: tuple[float, float] | None = None  # a tap: fit the box to the object there (`box`: fallback)

    @property
    def new_target(self) -> bool:
        return not (self.existing or self.reacquire)


@dataclass
class LoopCounters:
    """What the loop counted since it was created (diagnostics)."""

    received: int = 0
    processed: int = 0
    dropped: int = 0  # replaced by a newer frame before the worker took it
    rejected: int = 0  # undecodable, over the pixel budget
    out_of_order: int = 0
    stamp_outliers: int = 0
    clock_resets: int = 0
    init_accepted: int = 0
    init_rejected: int = 0
    init_superseded: int = 0
    init_failed: int = 0
    handoff_ignored: int = 0  # detections ignored while TRACKING
    reacquired: int = 0  # by a detector

    def diagnostics(self) -> dict[str, int]:
        """The counters under their /diagnostics names."""
        names = {
            "received": "frames_received",
            "processed": "frames_processed",
            "dropped": "dropped_frames",
            "rejected": "rejected_frames",
            "out_of_order": "out_of_order_frames",
            "handoff_ignored": "handoff_ignored_while_tracking",
            "reacquired": "reacquired_by_detector",
        }
        return {names.get(k, k): v for k, v in asdict(self).items()}


Log = Callable[[str, str], None]  # (level: "info" | "warning" | "error", text)
Publish = Callable[[Frame, np.ndarray, dict[str, StepOutcome]], None]


def _quiet(level: str, text: str) -> None:
    pass


@dataclass
class _Pending(Generic[M]):
    """The work queued for the worker."""

    frames: list[Frame[M]] = field(default_factory=list)
    inits: list[InitRequest[M]] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    stop: str | None = None
    clock_reset: bool = False

    def __bool__(self) -> bool:
        return bool(self.frames or self.inits or self.removals or self.stop or self.clock_reset)


class TrackingLoop(Generic[M]):
    """See the module docstring. Thread-safe between one input thread and the worker."""

    def __init__(
        self,
        targets: TargetSet,
        decode: Callable[[M], np.ndarray],
        publish: Publish,
        cache_size: int = 30,
        log: Log = _quiet,
    ) -> None:
        self.targets = targets
        self._decode, self._publish, self._log = decode, publish, log
        self._cond = threading.Condition()
        self._cache: FrameCache[Frame[M]] = FrameCache(max(cache_size, 1))
        self._stamps: StampPolicy[Frame[M]] = StampPolicy()
        self._pending: _Pending[M] = _Pending()
        self._applying: list[InitRequest[M]] = []  # taken by the worker, not yet applied
        self._counters = LoopCounters()
        self._worker: threading.Thread | None = None
        self._running = False
        self.last_stamp_ns = -1  # of the last frame processed
        self.last_error = ""
        self.stage_ms = {stage: SampleWindow(100) for stage in STAGES}
        self.output_rate = RateMeter()

    # ------------------------------------------------------------------ input side
    @property
    def counters(self) -> LoopCounters:
        """A snapshot."""
        with self._cond:
            return LoopCounters(**asdict(self._counters))

    def count(self, name: str, n: int = 1) -> None:
        with self._cond:
            setattr(self._counters, name, getattr(self._counters, name) + n)

    def push(self, frame: Frame[M]) -> None:
        """A camera frame arrived: judge its stamp, cache it, make it the frame to track next."""
        with self._cond:
            self._counters.received += 1
            decision = self._stamps.push(frame.stamp_ns, frame)
            self._counters.out_of_order += decision.late
            self._counters.stamp_outliers += decision.outliers
            if decision.clock_reset:
                self._counters.clock_resets += 1
                self._cache.clear()
                self._pending.clock_reset = True
                self._pending.inits = []
            if not decision.accept:
                return
            for stamp_ns, accepted in decision.accept:
                self._cache.add(stamp_ns, accepted)
            self._counters.dropped += len(self._pending.frames)
            self._pending.frames = [accepted for _, accepted in decision.accept]
            self._cond.notify_all()

    def resolve(self, stamp_ns: int, tolerance_ns: int) -> tuple[int, Frame[M]]:
        """The cached frame a request names (stamp 0: the newest); LookupError with the reason."""
        with self._cond:
            return self._cache.newest() if stamp_ns == 0 else self._cache.find(stamp_ns, tolerance_ns)

    def age_s(self, frame: Frame[M]) -> float:
        """How much older `frame` is than the newest cached frame, in seconds (camera stamps)."""
        with self._cond:
            newest, _ = self._cache.newest()
        return max(newest - frame.stamp_ns, 0) / 1e9

    def submit_init(self, request: InitRequest[M]) -> None:
        """Queue an init (see the rules in the module docstring); TargetLimitError when full."""
        with self._cond:
            if self.targets.max_targets == 1:
                superseded, self._pending.inits = self._pending.inits, [request]
            else:
                superseded = [r for r in self._pending.inits if r.track_id == request.track_id]
                others = [r for r in self._pending.inits if r.track_id != request.track_id]
                if request.new_target:
                    coming = {r.track_id for r in others + self._applying if r.new_target}
                    if len(set(self.targets.ids()) | coming) >= self.targets.max_targets:
                        raise TargetLimitError(
                            f"all {self.targets.max_targets} targets are tracked (max_targets); remove one "
                            "(~/remove) or give the track_id of the one to re-initialize"
                        )
                self._pending.inits = [*others, request]
            self._counters.init_superseded += len(superseded)
            self._cond.notify_all()

    def request_stop(self, reason: str) -> None:
        """End every track from the next frame; queued inits and removals are dropped."""
        with self._cond:
            self._pending.inits, self._pending.removals = [], []
            self._pending.stop = reason
            self._cond.notify_all()

    def request_remove(self, track_id: str) -> None:
        """End one target from the next frame (LookupError when it is not tracked)."""
        self.targets.get(track_id)
        with self._cond:
            self._pending.inits = [r for r in self._pending.inits if r.track_id != track_id]
            self._pending.removals.append(track_id)
            self._cond.notify_all()

    # ------------------------------------------------------------------ worker side
    def start(self) -> None:
        """Run the worker thread (and accept frames from a fresh timeline)."""
        with self._cond:
            self._stamps.reset()
            self.last_stamp_ns = -1
            self._running = True
        self._worker = threading.Thread(target=self._work, name="tracking_loop", daemon=True)
        self._worker.start()

    def halt(self, reason: str) -> None:
        """Stop the worker, drop queued work and the cache, end every track."""
        with self._cond:
            self._running = False
            self._pending = _Pending()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self.targets.stop_all(reason)
        with self._cond:
            self._cache.clear()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._pending:
                    self._cond.wait()
                if not self._running:
                    return
            self.run_pending()

    def run_pending(self) -> None:
        """Apply the queued work in order (clock reset, stop, removals, inits, frames). Called by
        the worker thread; tests call it directly."""
        with self._cond:
            work, self._pending = self._pending, _Pending()
            self._applying = list(work.inits)
        try:
            if work.clock_reset:
                self.targets.stop_all("stopped: image stamps jumped back (clock reset)")
                self.last_stamp_ns = -1
            if work.stop:
                self.targets.stop_all(work.stop)
            for track_id in work.removals:
                self._remove(track_id)
            for init in work.inits:
                try:
                    self._apply_init(init)
                finally:
                    with self._cond:
                        self._applying.remove(init)
            for frame in work.frames:
                self._process(frame)
        except Exception as exc:  # noqa: BLE001 - keep the loop alive, report the failure
            with self._cond:
                self._applying = []  # not applied: they hold no place
            self._error(f"internal error: {exc!r}")

    def _error(self, text: str) -> None:
        self.last_error = text
        self._log("error", text)

    def _remove(self, track_id: str) -> None:
        try:
            self.targets.remove(track_id, "removed by ~/remove")
        except LookupError:
            return  # it ended meanwhile
        self._log("info", f"removed target {track_id}")

    def _apply_init(self, init: InitRequest[M]) -> None:
        """Initialize on the requested frame, then track that target silently through the cached
        frames already published after it (catch-up)."""
        targets = self.targets
        try:
            session = targets.get(init.track_id) if not init.new_target else None
        except LookupError:
            return  # that target ended meanwhile
        if init.reacquire and session.state != TrackState.LOST:
            return  # the track recovered meanwhile: nothing to re-acquire
        try:
            rgb = self._decode(init.frame.msg)
            if init.point is not None:
                init.box = self._fit(rgb, init)
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
            self.count("init_failed")
            self._error(reason)
            return
        if init.reacquire:
            self.count("reacquired")
        with self._cond:
            catch_up = self._cache.between(init.frame.stamp_ns, self.last_stamp_ns)
        for _, frame in catch_up:  # this target only: the others have seen these frames
            try:
                session.step(self._decode(frame.msg))
            except ImageDecodeError:
                continue
        what = "re-acquired" if init.reacquire else f"tracking '{init.label}' as"
        since = format_stamp(init.frame.stamp_ns)
        self._log("info", f"{what} {init.track_id} from {since} (caught up over {len(catch_up)} frames)")

    def _fit(self, rgb: np.ndarray, init: InitRequest[M]) -> np.ndarray:
        """The box of the object under the init's point, valid for this tracker (else the square)."""
        fit = fit_box(rgb, *init.point, fallback_side=float(init.box[2]))
        box = init.box
        if fit.fitted:
            try:
                box = validate_box(fit.box, (rgb.shape[1], rgb.shape[0]), self.targets.tracker.box_limits)
            except InvalidBoxError as exc:
                fit = BoxFit(init.box, False, f"the fitted box does not suit this tracker: {exc}", fit.ms)
        self._log("info", f"{init.track_id}: box {np.round(box, 1).tolist()} at the point, {fit.how}")
        return box

    def _process(self, frame: Frame[M]) -> None:
        if frame.stamp_ns <= self.last_stamp_ns:  # the stamp policy lets none through; stay safe
            self.count("out_of_order")
            return
        timer = StageTimer()
        try:
            with timer.stage("decode"):
                rgb = self._decode(frame.msg)
        except ImageDecodeError as exc:
            self.count("rejected")
            self._error(f"image rejected: {exc}")
            return
        self.last_stamp_ns = frame.stamp_ns
        outcomes = self.targets.step(rgb)
        for outcome in outcomes.values():
            if outcome.error:
                self.last_error = outcome.error
                self._log("error", f"track {outcome.track_id or ''} ended: {outcome.error}")
        with timer.stage("publish"):
            self._publish(frame, rgb, outcomes)
        self.count("processed")
        self.output_rate.tick()
        for stage, ms in {**timer.times_ms, **self.primary(outcomes).timings_ms}.items():
            if stage in self.stage_ms:
                self.stage_ms[stage].add(ms)

    def primary(self, outcomes: dict[str, StepOutcome]) -> StepOutcome:
        """The primary target's outcome (the first target's), or IDLE when there is none."""
        if outcomes:
            return next(iter(outcomes.values()))
        return idle_outcome(self.targets.last_message)
