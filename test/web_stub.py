"""The operator page's server with a recording tracker behind it, without ROS: for the tests of
the server (hostile requests, origins) and of the page in a browser (layout, feedback)."""

from __future__ import annotations

import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hit_tracker_ros.web.requests import InitRequest, PointRequest
from hit_tracker_ros.web.server import OperatorServer, Outcome

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


class RecordingTracker:
    """The tracker side of the page: records what reached it; strings cross to it as UTF-8, as
    they would into a ROS message."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def init(self, request: InitRequest) -> Outcome:
        request.label.encode("utf-8")
        self.calls.append(("init", request))
        return Outcome(True, "accepted", "t1")

    async def point(self, request: PointRequest) -> Outcome:
        self.calls.append(("point", request))
        return Outcome(True, "accepted", "t1")

    async def stop(self) -> Outcome:
        self.calls.append(("stop", None))
        return Outcome(True, "stopped")

    async def remove(self, track_id: str) -> Outcome:
        track_id.encode("utf-8")
        return Outcome(False, f"no target {track_id}")

    async def set_threshold(self, value: float) -> Outcome:
        return Outcome(True, f"threshold {value}")

    def hello(self) -> dict[str, Any]:
        return {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(token: str = "", **kwargs) -> OperatorServer:
    server = OperatorServer(RecordingTracker(), port=free_port(), token=token, **kwargs)
    server.start()
    return server


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def chromium(tmp_path: Path):
    """Headless Chromium through Debian's chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / f'chrome-{uuid.uuid4().hex[:6]}'}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
