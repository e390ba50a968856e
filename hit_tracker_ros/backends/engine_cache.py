"""Keyed cache of TensorRT engines (no TensorRT import here; the builder is injected).

An engine is only valid for the exact ONNX file, TensorRT version, GPU, precision, input shapes
and builder options it was built with. Each engine file has a sidecar manifest with that key plus
the verification result. A matching engine loads at once. Any mismatch, or an unreadable or
corrupt file, triggers a rebuild with a log line that says why. Engines and manifests are written
to a temporary file and renamed, so a build that is killed never leaves a half-written engine
behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.files import atomic_write

__all__ = ["CachedEngine", "EngineCache", "EngineKey", "atomic_write", "sha256_file"]

LOG = logging.getLogger("hit_tracker_ros.engines")


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str  # "fp32" | "fp16"
    input_shapes: dict[str, list[int]]
    builder_options: dict[str, object] = field(default_factory=dict)  # workspace_mb, dla_core, ...
    recipe: int = 0  # the version of our build code (tensorrt_runner.BUILD_RECIPE)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def differences(self, other: dict) -> list[str]:
        """Human-readable fields in which a stored key `other` differs from this one."""
        mine = asdict(self)
        return [f"{k}: cached {other.get(k)!r}, now {v!r}" for k, v in mine.items() if other.get(k) != v]


@dataclass
class CachedEngine:
    path: Path
    manifest: dict
    rebuilt: bool
    reason: str  # why it was (re)built, or "cache hit"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EngineCache:
    """Engines in `folder`, named <stem>.<precision>.<key digest>.engine with a .json manifest."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def paths(self, stem: str, key: EngineKey) -> tuple[Path, Path]:
        engine = self.folder / f"{stem}.{key.precision}.{key.digest()}.engine"
        return engine, engine.with_suffix(".json")

    def lookup(self, stem: str, key: EngineKey) -> tuple[Path | None, str]:
        """(engine path, "cache hit") when a matching engine exists, else (None, why not)."""
        engine, manifest_path = self.paths(stem, key)
        if engine.exists() and manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, ValueError) as exc:
                return None, f"unreadable manifest {manifest_path.name} ({exc})"
            diffs = key.differences(manifest.get("key", {}))
            if diffs:
                return None, "key mismatch: " + "; ".join(diffs)
            if manifest.get("engine_sha256") != sha256_file(engine):
                return None, f"{engine.name} does not match its manifest (corrupt or replaced)"
            return engine, "cache hit"
        others = [p for p in self.folder.glob(f"{stem}.*.json")] if self.folder.exists() else []
        for other in others:
            try:
                diffs = key.differences(json.loads(other.read_text()).get("key", {}))
            except (OSError, ValueError):
                continue
            return None, f"no engine for this key (closest cached {other.stem}: {'; '.join(diffs)})"
        return None, "no cached engine"

    def build(
        self,
        stem: str,
        key: EngineKey,
        build_fn: Callable[[], bytes],
        reason: str,
        progress_period_s: float = 10.0,
    ) -> CachedEngine:
        """Build with `build_fn` (logging why and that it may take minutes), store atomically."""
        engine, manifest_path = self.paths(stem, key)
        LOG.warning("building TensorRT engine %s (%s); this may take minutes", engine.name, reason)
        start = time.monotonic()
        data = _with_heartbeat(build_fn, engine.name, progress_period_s)
        atomic_write(engine, data)
        manifest = {
            "key": asdict(key),
            "engine_sha256": sha256_file(engine),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.monotonic() - start, 1),
        }
        atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        LOG.warning("built %s in %.0f s", engine.name, manifest["build_seconds"])
        return CachedEngine(engine, manifest, True, reason)

    def record(self, engine: Path, **fields: object) -> dict:
        """Add fields (e.g. the verification result) to an engine's manifest, atomically."""
        manifest_path = engine.with_suffix(".json")
        manifest = json.loads(manifest_path.read_text())
        manifest.update(fields)
        atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        return manifest

    @contextmanager
    def build_lock(self, stem: str, key: EngineKey) -> Iterator[None]:
        """One build of an engine at a time, across processes (two nodes started together on a
        Jetson must not build the same engine twice, in each other's way); the second waits and
        then finds the first one's engine."""
        self.folder.mkdir(parents=True, exist_ok=True)
        engine, _ = self.paths(stem, key)
        with open(engine.with_name(f".{engine.name}.lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                LOG.warning("waiting for another process that is building %s", engine.name)
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get_or_build(
        self, stem: str, key: EngineKey, build_fn: Callable[[], bytes], load_fn: Callable[[bytes], object]
    ) -> tuple[object, CachedEngine]:
        """A loaded engine: from the cache when the key matches and the file loads, else rebuilt."""
        with self.build_lock(stem, key):
            return self._get_or_build(stem, key, build_fn, load_fn)

    def _get_or_build(
        self, stem: str, key: EngineKey, build_fn: Callable[[], bytes], load_fn: Callable[[bytes], object]
    ) -> tuple[object, CachedEngine]:
        path, reason = self.lookup(stem, key)
        if path is not None:
            try:
                loaded = load_fn(path.read_bytes())
                if loaded is not None:
                    manifest = json.loads(path.with_suffix(".json").read_text())
                    return loaded, CachedEngine(path, manifest, False, reason)
                reason = f"{path.name} failed to deserialize"
            except Exception as exc:  # noqa: BLE001 - a bad engine is rebuilt, never fatal
                reason = f"{path.name} failed to load ({exc})"
        entry = self.build(stem, key, build_fn, reason)
        loaded = load_fn(entry.path.read_bytes())
        if loaded is None:
            raise RuntimeError(f"freshly built engine {entry.path.name} does not load")
        return loaded, entry

    def entries(self) -> list[dict]:
        """Manifests of all cached engines (for `tools.engines list`)."""
        out = []
        for manifest_path in sorted(self.folder.glob("*.json")) if self.folder.exists() else []:
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, ValueError):
                continue
            engine = manifest_path.with_suffix(".engine")
            manifest["engine"] = str(engine)
            manifest["engine_present"] = engine.exists()
            out.append(manifest)
        return out


def _with_heartbeat(build_fn: Callable[[], bytes], name: str, period_s: float) -> bytes:
    """Run `build_fn`, logging "still building" every `period_s` seconds."""
    import threading

    done = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not done.wait(period_s):
            LOG.warning("still building %s: %.0f s", name, time.monotonic() - start)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        return build_fn()
    finally:
        done.set()
