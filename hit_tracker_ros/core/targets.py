"""Several targets over one network: a TrackingSession per target, and every frame one batched
network call for all of them (each target's search and each LOST target's re-acquisition windows).

With max_targets 1 this is exactly the single-target session the node always had: one session,
reused for every new target (an init replaces the running track)."""

from __future__ import annotations

import numpy as np

from .reacquire import ReacquireSettings
from .session import ReacquireStats, StepOutcome, TrackingSession, new_track_id
from .timing import StageTimer
from .tracker import Tracker
from .types import TrackState


class TargetLimitError(LookupError):
    """No room for another target (max_targets are tracked)."""


class UnknownTargetError(LookupError):
    """A track id that names no current target."""


class TargetSet:
    """The targets of one tracker node or MultiTracker; the first one added is the primary (what
    single-target consumers, such as a gimbal, follow)."""

    def __init__(
        self,
        tracker: Tracker,
        max_targets: int = 1,
        max_lost_frames: int = 0,
        reacquire: ReacquireSettings | None = None,
    ) -> None:
        """tracker: the first target's tracker; the others are its spawns (same model, settings
        and network)."""
        if max_targets < 1:
            raise ValueError(f"max_targets must be >= 1, got {max_targets}")
        self.max_targets = max_targets
        self.tracker = tracker  # model, backend, thresholds and box limits are everyone's
        self._max_lost_frames = max_lost_frames
        self._reacquire = reacquire or ReacquireSettings()
        self.reacquire_stats = ReacquireStats()  # all targets' searches
        # max_targets 1: one session kept through IDLE (the node's status reports it); more: one
        # session per live target, in the order they were added
        self._single = self._new_session(tracker) if max_targets == 1 else None
        self.sessions: dict[str, TrackingSession] = {}
        self.last_message = "waiting for a target"

    def _new_session(self, tracker: Tracker) -> TrackingSession:
        return TrackingSession(tracker, self._max_lost_frames, self._reacquire, self.reacquire_stats)

    # ------------------------------------------------------------------ settings
    def configure(
        self,
        lost: float,
        recover: float,
        max_lost_frames: int,
        reacquire: ReacquireSettings | None = None,
    ) -> None:
        """Thresholds and the LOST policy for every target, now and later."""
        self._max_lost_frames = max_lost_frames
        if reacquire is not None:
            self._reacquire = reacquire
        for tracker in [self.tracker, *(s.tracker for s in self._all())]:
            tracker.score_threshold = lost
            tracker.recover_threshold = max(recover, lost)
        for session in self._all():
            session.max_lost_frames = max_lost_frames
            session.reacquire_settings = self._reacquire

    def _all(self) -> list[TrackingSession]:
        return [self._single] if self._single is not None else list(self.sessions.values())

    # ------------------------------------------------------------------ targets
    @property
    def primary(self) -> TrackingSession | None:
        if self._single is not None:
            return self._single
        return next(iter(self.sessions.values()), None)

    def get(self, track_id: str) -> TrackingSession:
        for session in self._all():
            if session.track_id and session.track_id == track_id:
                return session
        raise UnknownTargetError(f"no target '{track_id}' (tracking: {', '.join(self.ids()) or 'none'})")

    def ids(self) -> list[str]:
        return [s.track_id for s in self._all() if s.track_id]

    def _free_session(self) -> TrackingSession:
        """The session a new target goes to: the single one (max_targets 1, replacing its track),
        else a new one; refused when all max_targets are in use."""
        if self._single is not None:
            return self._single
        if len(self.sessions) >= self.max_targets:
            raise TargetLimitError(
                f"all {self.max_targets} targets are tracked (max_targets); remove one or give its track_id"
            )
        return self._new_session(self.tracker.spawn())

    def start(
        self, frame: np.ndarray, box: np.ndarray, label: str = "", track_id: str = "", existing: bool = False
    ) -> tuple[str, np.ndarray]:
        """Start a new target (with the id `track_id`; empty: a new id), or, with `existing`,
        re-initialize the target `track_id` (keeping its label when `label` is empty). Returns
        (track id, the box used)."""
        session = self.get(track_id) if existing else self._free_session()
        new_id = track_id or new_track_id()
        used = session.start(frame, box, label or (session.label if existing else ""), new_id)
        if self._single is None:
            self.sessions[new_id] = session
        return new_id, used

    def remove(self, track_id: str, reason: str = "removed") -> None:
        session = self.get(track_id)
        session.stop(reason)
        self.sessions.pop(track_id, None)
        self.last_message = f"{track_id} {reason}"

    def stop_all(self, reason: str = "stopped") -> None:
        for session in self._all():
            session.stop(reason)
        self.sessions.clear()
        self.last_message = reason

    # ------------------------------------------------------------------ frames
    def step(self, frame: np.ndarray) -> dict[str, StepOutcome]:
        """Every target's outcome for `frame` (a target that ends on this frame reports its IDLE
        outcome once, then is gone); with max_targets 1 the single session's outcome, keyed by
        its track id ("" while IDLE)."""
        sessions = self._all()
        plans = [(s, s.track_id, s.plan(frame)) for s in sessions]
        feeds = [f for _, _, plan in plans for f in plan.feeds]
        outputs: list[dict] = []
        if feeds:
            timer = StageTimer()
            try:
                outputs = self.tracker.run_batch(feeds, timer)
            except Exception as exc:  # noqa: BLE001 - a backend failure ends the tracks, not the node
                return self._fail_all(plans, exc)
            for _, _, plan in plans:
                if plan.feeds:
                    plan.timer.times_ms["inference"] = timer.times_ms.get("inference", 0.0)
        results: dict[str, StepOutcome] = {}
        rows = iter(outputs)
        for session, track_id, plan in plans:
            outcome = plan.complete([next(rows) for _ in plan.feeds])
            results[track_id or outcome.track_id] = outcome
            if self._single is None and session.state == TrackState.IDLE:
                self.sessions.pop(track_id, None)
                self.last_message = f"{track_id} {outcome.message}"
        return results

    def _fail_all(self, plans, exc: Exception) -> dict[str, StepOutcome]:
        results = {}
        for session, track_id, plan in plans:
            results[track_id] = session.fail(exc) if plan.feeds else plan.complete([])
            if self._single is None and session.state == TrackState.IDLE:
                self.sessions.pop(track_id, None)
        return results
