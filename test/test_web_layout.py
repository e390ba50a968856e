"""The operator page in Chromium as an operator sees it, against the real page server (no ROS; the
tracker's side records): on a laptop and on a phone in portrait and landscape the state, the
video and Stop are visible at once without scrolling; a refusal shows next to the video in words
an operator can act on; the box drawn is the one of the frame shown (statuses matched by stamp);
the rate shows nothing until it is measured."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from waiting import until
from web_stub import CHROMEDRIVER, CHROMIUM, chromium, jpeg, start_server

from hit_tracker_ros.core.synthetic import SceneConfig, SyntheticScene

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver"
)
OUT = Path(__file__).resolve().parents[1] / "out" / "web"
SCENE = SyntheticScene(SceneConfig(width=640, height=480, n_frames=10))
FRAMES = [jpeg(SCENE.frame(i)) for i in range(len(SCENE))]
VIEWPORTS = {  # (width, height, phone): a laptop's browser at 1280x800, a phone upright and on its side
    "laptop": (1280, 657, False),
    "phone_portrait": (390, 844, True),
    "phone_landscape": (844, 390, True),
}


@pytest.fixture
def server():
    srv = start_server(token="s3cret")
    yield srv
    srv.stop()


@pytest.fixture
def driver(tmp_path):
    d = chromium(tmp_path)
    yield d
    d.quit()


class Video:
    """Frames pushed to the page until stopped (stamps 1, 2, ... seconds)."""

    def __init__(self, server) -> None:
        self.server, self.done = server, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.done.wait(0.1):
            self.server.publish_frame((i + 1) * 10**9, 640, 480, FRAMES[i % len(FRAMES)])
            i += 1

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def body(driver, key: str) -> str:
    return driver.execute_script(f"return document.body.dataset.{key} || ''")


def viewport(driver, width: int, height: int, phone: bool) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone},
    )


def rect(driver, element_id: str) -> dict:
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
        " width: r.width, height: r.height};",
        element_id,
    )


@pytest.mark.parametrize("name", list(VIEWPORTS))
def test_state_video_and_stop_are_visible_at_once(server, driver, name):
    width, height, phone = VIEWPORTS[name]
    video = Video(server)
    try:
        viewport(driver, width, height, phone)
        driver.get(f"http://127.0.0.1:{server.port}/")
        until(lambda: body(driver, "frames"), 20, "video")
        size = driver.execute_script("return [innerWidth, innerHeight, scrollY]")
        assert size[:2] == [width, height], size
        for element in ("state", "video", "stop", "message"):
            r = rect(driver, element)
            inside = (
                r["left"] >= 0 and r["top"] >= 0 and r["right"] <= width + 0.5 and r["bottom"] <= height + 0.5
            )
            assert inside and r["width"] > 0 and r["height"] > 0, (name, element, r)
        video_box = rect(driver, "video")
        assert abs(video_box["width"] / video_box["height"] - 640 / 480) < 0.02, "the picture keeps its shape"
        assert video_box["width"] >= 0.9 * width or video_box["height"] >= 0.55 * height, (
            "the video takes the room there is",
            video_box,
        )
        assert driver.execute_script("return document.scrollingElement.scrollHeight") <= height + 1
        OUT.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUT / f"layout_{name}.png"))
    finally:
        video.stop()


def test_a_refused_drag_says_why_next_to_the_video(server, driver):
    """A page opened without the token: the drag is refused, and the words say what to do."""
    video = Video(server)
    try:
        viewport(driver, 390, 844, True)
        driver.get(f"http://127.0.0.1:{server.port}/")
        until(lambda: body(driver, "frames"), 20, "video")
        driver.execute_script(
            "const c = document.getElementById('video'); const r = c.getBoundingClientRect();"
            "const at = (type, f) => c.dispatchEvent(new PointerEvent(type, {pointerId: 1, bubbles: true,"
            " clientX: r.left + f * r.width, clientY: r.top + f * r.height}));"
            "at('pointerdown', 0.3); at('pointermove', 0.5); at('pointerup', 0.5);"
        )
        until(lambda: body(driver, "lastReply"), 10, "the robot's reply")
        text = driver.execute_script("return document.getElementById('message').textContent")
        assert "refused" in text and "link that has the token" in text and "X-Operator" not in text, text
        r = rect(driver, "message")
        assert r["top"] >= 0 and r["bottom"] <= 844, r
    finally:
        video.stop()


def test_the_box_drawn_is_the_one_of_the_frame_shown(server, driver):
    """Statuses run ahead of the video: the page draws each frame's own box, matched by stamp."""
    driver.get(f"http://127.0.0.1:{server.port}/")
    until(lambda: driver.execute_script("return document.body.dataset.tokenRequired || ''"), 20, "hello")
    box = {"state": "TRACKING", "track_id": "a1", "label": "", "score": 0.9}
    server.publish_frame(5 * 10**9, 640, 480, FRAMES[0])
    until(lambda: body(driver, "frameStamp") == str(5 * 10**9), 20, "the frame stamped 5 s")
    assert body(driver, "boxStamp") == "", "no box before any status"
    rate = driver.execute_script("return document.getElementById('rate').textContent")
    server.publish_status(
        {**box, "box": [10, 10, 40, 30], "stamp_ns": str(5 * 10**9), "latency_ms": 0.0, "threshold": 0.25}
    )
    server.publish_targets(str(5 * 10**9), [{**box, "box": [10, 10, 40, 30]}])
    server.publish_targets(str(6 * 10**9), [{**box, "box": [300, 200, 40, 30]}])
    until(
        lambda: driver.execute_script("return document.getElementById('state').textContent") == "TRACKING",
        10,
        "the status shown",
    )
    rate = driver.execute_script("return document.getElementById('rate').textContent")
    assert rate == "", f"no rate before it is measured: {rate!r}"
    server.publish_frame(5 * 10**9 + 1, 640, 480, FRAMES[1])  # a frame between the two statuses
    until(lambda: body(driver, "frameStamp") == str(5 * 10**9 + 1), 20, "the next frame")
    assert body(driver, "boxStamp") == str(5 * 10**9), "the box of the newest status before the frame"
    server.publish_frame(6 * 10**9, 640, 480, FRAMES[2])
    until(lambda: body(driver, "frameStamp") == str(6 * 10**9), 20, "the frame stamped 6 s")
    assert body(driver, "boxStamp") == str(6 * 10**9), "its own box, not the newest"
