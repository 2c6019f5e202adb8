"""`rdpbench study serve` as raters meet it: the HTTP API's refusals and idempotency against a real
uvicorn server, tampered pictures, and headless chromium (Selenium) completing a study with the keyboard
for three raters at once across a SIGKILL of the server."""

import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import study_fixtures
from rdpbench.study.session import Session

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    results = study_fixtures.make_results(folder)
    study = folder / "study"
    from rdpbench.cli import main

    assert main(["study", "create", str(results), "--out", str(study), "--design", "round-robin", "--entries",
                 "jpeg:quality=10,jpeg:quality=60,webp:quality=60", "--probes", "2", "--seed", "11"]) == 0
    return study


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`rdpbench study serve` in a child process on a free loopback port."""

    def __init__(self, study, port: int | None = None, options=("--practice", "0")):
        self.port = port or _free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "rdpbench", "study", "serve", str(study), "--port",
                                         str(self.port), *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.request("GET", "/")[0] in (200, 400):  # 400: a platform's parameters are missing
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.process.communicate(timeout=10)}")

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def json(self, method: str, path: str, document=None) -> tuple[int, dict]:
        status, body, _ = self.request(method, path, None if document is None else json.dumps(document).encode())
        return status, json.loads(body)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def server(study):
    servers = []

    def start(port=None):
        servers.append(Server(study, port))
        return servers[-1]

    yield start
    for running in servers:
        if running.process.poll() is None:
            running.process.terminate()
            running.process.wait(timeout=30)


def _new_rater(server) -> str:
    status, _, headers = server.request("POST", "/start")
    assert status == 303
    return headers["location"].rsplit("/", 1)[-1]


def test_bad_requests_get_4xx_and_change_nothing_and_answers_are_idempotent(study, server):
    running = server()
    session = Session(study)
    before = session.responses.answers()
    rater, other = _new_rater(running), _new_rater(running)
    assert running.request("GET", f"/r/{rater}")[0] == 200
    status, state = running.json("GET", f"/api/{rater}/next")
    assert status == 200 and not state["done"] and state["answered"] == 0 and state["total"] == 3 * 2 + 2
    assert "code" not in state  # the completion code comes only after the last answer
    key = state["trial"]["key"]
    other_key = running.json("GET", f"/api/{other}/next")[1]["trial"]["key"]
    later_key = session.order(rater)[1].key
    refusals = [
        ("POST", f"/api/{rater}/answer", b"{not json", 400),
        ("POST", f"/api/{rater}/answer", b'["a list"]', 400),
        ("POST", f"/api/{rater}/answer", json.dumps({"key": key, "choice": "up"}).encode(), 400),
        ("POST", f"/api/{rater}/answer", json.dumps({"key": key, "choice": "left", "response_ms": "x"}).encode(), 400),
        ("POST", f"/api/{rater}/answer", json.dumps({"key": "0" * 16, "choice": "left"}).encode(), 404),
        ("POST", f"/api/{rater}/answer", json.dumps({"key": other_key, "choice": "left"}).encode(), 404),
        ("POST", f"/api/{rater}/answer", json.dumps({"key": later_key, "choice": "left"}).encode(), 409),
        ("POST", f"/api/{'0' * 16}/answer", json.dumps({"key": key, "choice": "left"}).encode(), 404),
        ("GET", "/api/../study.json", None, 404),
        ("GET", "/images/..%2Fstudy.json", None, 404),
        ("GET", "/images/../study.json", None, 404),
        ("GET", "/images/%2e%2e/responses.sqlite", None, 404),
        ("GET", "/r/..%2F..%2Fetc%2Fpasswd", None, 404),
        ("GET", "/images/0000000000000000.png", None, 404),
        ("POST", f"/api/{rater}/answer", b'{"key": "' + b"x" * 5000 + b'"}', 413),
    ]
    for method, path, body, expected in refusals:
        status, content, _ = running.request(method, path, body)
        assert status == expected, (path, body, content)
        assert b"study.json" not in content and b"secret" not in content
    assert running.json("GET", f"/api/{rater}/next")[0] == 200  # the trial is sent (again) now
    too_fast = {"key": key, "choice": "right", "response_ms": 812}  # claims 812 ms, but the server sent it just now
    status, refusal = running.json("POST", f"/api/{rater}/answer", too_fast)
    assert status == 429 and "too fast" in refusal["error"]
    time.sleep(0.6)
    assert running.json("POST", f"/api/{rater}/answer", {**too_fast, "response_ms": 120})[0] == 429  # claims < 500
    assert session.responses.answers() == before
    status, after = running.json("POST", f"/api/{rater}/answer", {"key": key, "choice": "right", "response_ms": 812})
    assert status == 200 and after["answered"] == 1 and after["trial"]["key"] == later_key
    assert running.json("POST", f"/api/{rater}/answer", {"key": key, "choice": "right", "response_ms": 600})[0] == 200
    assert running.json("POST", f"/api/{rater}/answer", {"key": key, "choice": "left"})[0] == 409
    stored = [row for row in session.responses.answers() if row[0] == rater]
    assert len(stored) == 1 and stored[0][5:7] == ("right", 812.0)
    image = after["trial"]["left"]
    status, data, headers = running.request("GET", image)
    assert status == 200 and headers["content-type"] == "image/png" and data.startswith(b"\x89PNG")


def test_a_tampered_picture_is_never_served(tmp_path, study, server, run_cli, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("responses.sqlite*"))
    running = Server(copy)
    try:
        rater = _new_rater(running)
        picture = running.json("GET", f"/api/{rater}/next")[1]["trial"]["original"]
        target = copy / picture.lstrip("/")
        os.chmod(target, 0o644)
        target.write_bytes(target.read_bytes() + b"\0")
        status, body, _ = running.request("GET", picture)
        assert status == 503 and b"modified" in body
    finally:
        running.process.terminate()
        running.process.wait(timeout=30)
    assert run_cli("study", "serve", copy, "--port", str(_free_port())) == 2
    assert "was modified (sha256 differs from study.json); refusing to serve" in capsys.readouterr().err
    design = copy / "study.json"
    os.chmod(design, 0o644)
    design.write_text(design.read_text().replace('"probes": 2', '"probes": 3'))
    assert run_cli("study", "serve", copy, "--port", str(_free_port())) == 2
    assert "study.json changed after answers were collected" in capsys.readouterr().err


def _browser(profile):
    """Headless Debian chromium under Selenium, one device pixel per CSS pixel, a window the rater page
    accepts (at least 1280x720)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--force-device-scale-factor=1", "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def body_state(driver) -> tuple[str, int]:
    """(data-state, data-answered) of the rater page, read at once so they belong together."""
    state, answered = driver.execute_script("return [document.body.dataset.state, document.body.dataset.answered]")
    return state, int(answered or -1)


def wait_for(driver, state: str, answered: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60, poll_frequency=0.05).until(lambda d: body_state(d) == (state, answered))


def key_at_first_paint(driver, key: str) -> list[str]:
    """Press ``key`` as soon as the next pictures are painted (inside the minimum display time);
    [body state, answers counted] right after."""
    return driver.execute_async_script(
        "const key = arguments[0], done = arguments[1]; (function poll() { if (document.body.dataset.state !== "
        "'viewing') return setTimeout(poll, 2); document.dispatchEvent(new KeyboardEvent('keydown', {key, "
        "bubbles: true})); done([document.body.dataset.state, document.body.dataset.answered]); })();", key)


NEEDS_BROWSER = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=(
    "Debian's chromium and chromium-driver are not installed (make setup installs them)"))


def _expected_choice(rater_index: int, position: int) -> str:
    return "left" if (rater_index + position) % 3 else "right"


@NEEDS_BROWSER
def test_three_raters_complete_the_study_in_chromium_across_a_server_kill(tmp_path, study, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    running = server()
    session = Session(study)
    before = {row[0] for row in session.responses.answers()}
    total = len(session.trials)
    first_part = 3

    drivers = [_browser(tmp_path / f"profile{i}") for i in range(3)]
    raters: list[str | None] = [None] * 3
    errors = []

    def answer(index: int, start: int, stop: int):
        try:
            driver = drivers[index]
            for position in range(start, stop):
                wait_for(driver, "trial", position)
                key = Keys.ARROW_LEFT if _expected_choice(index, position) == "left" else Keys.ARROW_RIGHT
                ActionChains(driver).send_keys(key).perform()
            wait_for(driver, "done" if stop == total else "trial", stop)
        except Exception as error:  # reported by the main thread
            errors.append((index, repr(error), body_state(drivers[index]),
                           drivers[index].find_element(By.ID, "error").text))

    try:
        for index, driver in enumerate(drivers):
            driver.get(f"http://127.0.0.1:{running.port}/")
            assert body_state(driver)[0] == "welcome"
            driver.switch_to.active_element.send_keys(Keys.ENTER)  # the Start button has the focus
            WebDriverWait(driver, 60).until(lambda d: "/r/" in d.current_url)
            raters[index] = driver.current_url.rsplit("/", 1)[-1]
            wait_for(driver, "instructions", 0)  # a new rater reads the instructions first
            driver.find_element(By.ID, "start-button").click()
        # flip and zoom on the first rater's first trial
        driver = drivers[0]
        wait_for(driver, "trial", 0)
        left = driver.find_element(By.ID, "left")
        natural = driver.execute_script("return arguments[0].naturalWidth", left)
        assert left.get_attribute("style").replace(" ", "").startswith(f"width:{natural}px")  # 1:1 pixels
        assert left.value_of_css_property("image-rendering") == "pixelated"
        ActionChains(driver).send_keys("z").perform()
        assert f"width: {2 * natural}px" in left.get_attribute("style")
        shown = left.get_attribute("src")
        ActionChains(driver).send_keys("f").perform()
        assert left.get_attribute("src") == driver.find_element(By.ID, "original").get_attribute("src")
        ActionChains(driver).send_keys("f").perform()
        assert left.get_attribute("src") == shown

        threads = [threading.Thread(target=answer, args=(i, 0, first_part)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        running.kill()
        running = server(running.port)
        for index, driver in enumerate(drivers):
            old_body = driver.find_element(By.TAG_NAME, "body")
            driver.refresh()
            WebDriverWait(driver, 60).until(staleness_of(old_body))
            wait_for(driver, "trial", first_part)  # resumed at the first unanswered trial
            assert session.progress(raters[index])[0].key == session.order(raters[index])[first_part].key
        threads = [threading.Thread(target=answer, args=(i, first_part, total)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        for index, driver in enumerate(drivers):
            assert driver.find_element(By.ID, "code").text == session.completion_code(raters[index])
    finally:
        for driver in drivers:
            driver.quit()
    stored = [row for row in session.responses.answers() if row[0] not in before]
    assert len(stored) == 3 * total and {row[0] for row in stored} == set(raters)
    for row in stored:
        rater, trial, position, left, right, choice = row[:6]
        index = raters.index(rater)
        shown = session.order(rater)[position]
        assert (trial, left, right) == (shown.trial["id"], shown.left, shown.right)
        assert choice == _expected_choice(index, position)


@NEEDS_BROWSER
def test_the_static_export_completes_in_chromium_and_its_file_imports(tmp_path, study, run_cli, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    copy, static = tmp_path / "copy", tmp_path / "static"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("responses.sqlite*"))
    assert run_cli("study", "export-static", copy, static, "--raters", "2") == 0
    rater = open(static / "links.csv").read().splitlines()[1].split(",")[0]
    session = Session(copy)
    total = len(session.trials)
    driver = _browser(tmp_path / "profile")
    try:
        driver.get((static / "index.html").as_uri() + f"?rater={rater}")
        wait_for(driver, "instructions", 0)  # a static rater reads the instructions first
        driver.find_element(By.ID, "start-button").click()
        for position in range(total):
            wait_for(driver, "trial", position)
            key = Keys.ARROW_LEFT if _expected_choice(0, position) == "left" else Keys.ARROW_RIGHT
            ActionChains(driver).send_keys(key).perform()
        wait_for(driver, "done", total)
        shown_code = driver.find_element(By.ID, "code").text
        link = driver.find_element(By.ID, "download").get_attribute("href")
        text = driver.execute_async_script("fetch(arguments[0]).then(r => r.text()).then(arguments[1])", link)
        # the page's HMAC-SHA256 against Python's, across SHA-256 padding boundaries and a long key
        for key_length, length in ((16, 0), (16, 55), (16, 56), (16, 64), (100, 119), (16, 1000)):
            key, message = "k" * key_length, "é" * (length // 2) + "m" * (length % 2)
            assert driver.execute_script("return window.rdpbenchHmacSha256(arguments[0], arguments[1])",
                                         key, message) == hmac.new(key.encode(), message.encode(), "sha256").hexdigest()
    finally:
        driver.quit()
    assert shown_code not in (static / "study-data.js").read_text() + (static / "links.csv").read_text()
    document = json.loads(text)
    data = json.loads((static / "study-data.js").read_text().removeprefix("window.STUDY_DATA = ").rstrip(";\n"))
    message = f"{document['study_id']}/{rater}/" + ",".join(f"{a['key']}={a['choice']}" for a in document["answers"])
    expected = hmac.new(data["raters"][rater]["code_key"].encode(), message.encode(), "sha256").hexdigest()[:10]
    assert shown_code == expected.upper()
    answers = tmp_path / "answers.json"
    answers.write_text(text)
    assert run_cli("study", "import", copy, answers) == 0
    assert f"completion code {shown_code}" in capsys.readouterr().out
    stored = session.responses.answers()
    assert len(stored) == total
    for row in stored:
        shown = session.order(rater)[row[2]]
        assert (row[0], row[1], row[3], row[4]) == (rater, shown.trial["id"], shown.left, shown.right)
        assert row[5] == _expected_choice(0, row[2])


def _key(driver, key: str, repeat: bool = False) -> None:
    """A keydown as a held or pressed key sends it (``repeat``: the auto-repeat of a held key)."""
    driver.execute_script("document.dispatchEvent(new KeyboardEvent('keydown', "
                          "{key: arguments[0], repeat: arguments[1], bubbles: true}))", key, repeat)


@pytest.fixture(scope="module")
def large_study(tmp_path_factory):
    """Two trials of full-size photos (512x512 and 512x400 crops) and two probes: wider than a third
    of a 1280-pixel window."""
    folder = tmp_path_factory.mktemp("large")
    results = study_fixtures.make_large_results(folder)
    from rdpbench.cli import main

    assert main(["study", "create", str(results), "--out", str(folder / "study"), "--design", "round-robin",
                 "--entries", "jpeg:quality=10,jpeg:quality=60", "--probes", "2", "--seed", "3"]) == 0
    return folder / "study"


VIEW_SCRIPT = """
const boxes = {}, views = {};
for (const id of ["left", "original", "right"]) {
  const image = document.getElementById(id), frame = image.parentElement;
  const f = frame.getBoundingClientRect(), i = image.getBoundingClientRect();
  boxes[id] = [f.left, f.top, f.width, f.height];
  views[id] = [f.left - i.left, f.top - i.top, i.width, i.height, image.naturalWidth, image.naturalHeight];
}
return [boxes, views];
"""


def _view(driver):
    """Per panel: its frame box [left, top, width, height] and [x, y, width, height, natural width,
    natural height] of the picture: the CSS px of the picture at the frame's top-left corner, its size."""
    return driver.execute_script(VIEW_SCRIPT)


def _inside_viewport(driver, element_id: str) -> bool:
    return driver.execute_script("const r = document.getElementById(arguments[0]).getBoundingClientRect(); "
                                 "return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth "
                                 "&& r.bottom <= innerHeight", element_id)


def _synchronised(driver) -> tuple[float, float, float, float]:
    """The one view all three panels show (asserted): x, y, frame width, frame height (CSS px)."""
    boxes, views = _view(driver)
    assert views["left"][:4] == views["original"][:4] == views["right"][:4], views
    assert [b[2:] for b in boxes.values()] == [boxes["left"][2:]] * 3, boxes  # identical clipping
    return (*views["original"][:2], *boxes["original"][2:])


def _pixel_exact(driver, study, ratio: float = 1) -> bool:
    """Whether each panel of a screenshot (``ratio`` device pixels per CSS pixel) equals its study picture,
    enlarged by pixel repetition at the zoom shown and cut at the view: shown 1:1 and never resampled."""
    import io

    import numpy as np
    from PIL import Image

    screen = np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"))
    boxes, views = _view(driver)
    for panel, box in boxes.items():
        left, top, width, height = (round(value * ratio, 3) for value in box)
        if not all(float(value).is_integer() for value in (left, top, width, height)):
            return False  # a frame off the device-pixel grid cuts a picture pixel
        name = driver.execute_script("return arguments[0].src", driver.find_element("id", panel)).rsplit("/", 1)[1]
        picture = np.asarray(Image.open(study / "images" / name).convert("RGB"))
        x, y, shown_width = (round(value * ratio, 3) for value in views[panel][:3])
        zoom = round(shown_width / picture.shape[1])
        enlarged = picture.repeat(zoom, axis=0).repeat(zoom, axis=1)
        expected = enlarged[int(y):int(y + height), int(x):int(x + width)]
        if not np.array_equal(screen[int(top):int(top + height), int(left):int(left + width)], expected):
            return False
    return True


@NEEDS_BROWSER
def test_the_viewer_at_1280x720_compares_like_with_like(tmp_path, large_study):
    """One rater in Chromium with a 1280x720 viewport: everything visible without scrolling, pictures at
    1:1 cut identically, one synchronised zoom and pan reset on every trial, flipped state refusing
    answers, held keys and focused buttons answering nothing, errors shown and cleared."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    running = Server(large_study)
    session = Session(large_study)
    driver = _browser(tmp_path / "profile")
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False})
        driver.get(f"http://127.0.0.1:{running.port}/")
        driver.find_element(By.ID, "start-button").click()
        wait_for(driver, "instructions", 0)
        driver.find_element(By.ID, "start-button").click()
        wait_for(driver, "trial", 0)
        rater = driver.current_url.rsplit("/", 1)[-1]
        assert driver.execute_script("return [innerWidth, innerHeight]") == [1280, 720]
        assert driver.execute_script("return document.documentElement.scrollHeight <= innerHeight "
                                     "&& document.documentElement.scrollWidth <= innerWidth")
        for element in ("progress", "flip", "zoom", "left-label", "right-label", "choose-left", "choose-right"):
            assert _inside_viewport(driver, element), element
        boxes, views = _view(driver)
        for panel in boxes.values():  # every frame whole on screen
            assert panel[0] >= 0 and panel[1] >= 0 and panel[0] + panel[2] <= 1280 and panel[1] + panel[3] <= 720
        natural_width, natural_height = views["original"][4:]
        assert views["original"][2:4] == [natural_width, natural_height]  # 1:1, not resampled
        x, y, width, height = _synchronised(driver)
        assert width < natural_width  # three 512-pixel pictures do not fit 1280 pixels: cut, not scaled
        assert (x, y) == (round((natural_width - width) / 2), round((natural_height - height) / 2))  # centred
        assert _pixel_exact(driver, large_study)

        # a wheel over the left panel moves all three; a drag over the right one too (panning stops at the
        # picture's edges: at 1:1 all rows fit here, so only x moves)
        def clamp(value, size, window):
            return min(max(value, 0), size - window)

        frames = {panel: driver.find_element(By.ID, panel).find_element(By.XPATH, "..")
                  for panel in ("left", "original", "right")}
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(frames["left"]), -40, -20).perform()
        moved = (clamp(x - 40, natural_width, width), clamp(y - 20, natural_height, height))
        assert moved[0] == x - 40 and _synchronised(driver)[:2] == moved
        ActionChains(driver).move_to_element(frames["right"]).click_and_hold().move_by_offset(-30, -10) \
            .release().perform()
        x, y = moved[0] + 30, clamp(moved[1] + 10, natural_height, height)
        assert _synchronised(driver)[:2] == (x, y)
        # a click zooms 2:1 at the clicked point, in all three panels
        ActionChains(driver).move_to_element_with_offset(frames["original"], 100 - width // 2,
                                                         60 - height // 2).click().perform()
        assert driver.execute_script("return document.body.dataset.zoom") == "2"
        assert _view(driver)[1]["original"][2] == 2 * natural_width
        # the picture pixel under the click, (x + 100, y + 60), is still under it: at 2:1, x' + 100 = 2 (x + 100)
        x, y = 2 * (x + 100) - 100, 2 * (y + 60) - 60
        assert _synchronised(driver)[:2] == (x, y) and _pixel_exact(driver, large_study)
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(frames["right"]), 16, 50).perform()
        assert _synchronised(driver)[:2] == (x + 16, y + 50)  # screen pixels: 8 and 25 picture pixels at 2:1
        x, y = x + 16, y + 50
        # a slow drag (one pointer event per screen pixel) moves the pictures with the pointer: 12 pixels
        # left and 6 up move the view 12 and 6 screen pixels (6 and 3 picture pixels), not one a step
        box = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", frames["left"])
        at = [box["left"] + 200, box["top"] + 200]

        def mouse(kind, **extra):
            driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": at[0], "y": at[1], "button": "left",
                                                                "buttons": 1, **extra})

        mouse("mousePressed", clickCount=1)
        for step in range(12):
            at[0] -= 1
            at[1] -= 1 if step < 6 else 0
            mouse("mouseMoved")
        mouse("mouseReleased", clickCount=1)
        assert _synchronised(driver)[:2] == (x + 12, y + 6)

        # flipped: clearly marked, and an answer is refused until flipped back
        ActionChains(driver).send_keys("f").perform()
        assert _inside_viewport(driver, "flip-state") and "FLIPPED" in driver.find_element(By.ID, "flip-state").text
        assert driver.find_element(By.ID, "left").get_attribute("src") == \
            driver.find_element(By.ID, "original").get_attribute("src")
        ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
        assert body_state(driver) == ("trial", 0)
        ActionChains(driver).send_keys("f", Keys.ARROW_RIGHT).perform()
        wait_for(driver, "trial", 1)

        # the next trial starts afresh: 1:1, centred
        boxes, views = _view(driver)
        assert driver.execute_script("return document.body.dataset.zoom") == "1"
        natural_width, natural_height = views["original"][4:]
        x, y, width, height = _synchronised(driver)
        assert (x, y) == (round((natural_width - width) / 2), round((natural_height - height) / 2))
        # at 1920x1080 the whole picture fits: the panels grow to it (the page follows the window's size)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: _synchronised(d)[2] == natural_width)
        assert _synchronised(driver) == (0, 0, natural_width, natural_height) and _pixel_exact(driver, large_study)
        assert all(_inside_viewport(driver, e) for e in ("progress", "choose-left", "choose-right", "right-label"))
        # device-pixel ratios 1.5 and 2: pictures still on whole screen pixels, also zoomed and panned
        for ratio in (1.5, 2):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 1280, "height": 720, "deviceScaleFactor": ratio, "mobile": False})
            WebDriverWait(driver, 10, poll_frequency=0.05).until(
                lambda d: d.execute_script("return document.body.dataset.ratio") == str(ratio))
            assert _pixel_exact(driver, large_study, ratio), ratio
            ActionChains(driver).send_keys("z").perform()
            ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(frames["left"]), 7, 5).perform()
            assert _pixel_exact(driver, large_study, ratio), ratio
            ActionChains(driver).send_keys("z", "z").perform()  # back to 1:1
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False})
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: _synchronised(d)[2] == width)

        # a held key's repeats answer nothing; a mouse click answers and leaves no focus behind, so
        # Enter and Space on the next trial answer nothing either
        _key(driver, "ArrowLeft", repeat=True)
        driver.find_element(By.ID, "choose-right").click()
        wait_for(driver, "trial", 2)
        ActionChains(driver).send_keys(Keys.ENTER, Keys.SPACE).perform()
        time.sleep(0.3)
        assert body_state(driver) == ("trial", 2)

        # a failed request shows an error on screen; the next success clears it
        driver.execute_script("const real = window.fetch; window.fetch = () => { window.fetch = real; "
                              "return Promise.reject(new TypeError('Failed to fetch')); };")
        ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
        WebDriverWait(driver, 30, poll_frequency=0.05).until(lambda d: d.find_element(By.ID, "error").is_displayed())
        assert _inside_viewport(driver, "error") and "could not be reached" in driver.find_element(By.ID, "error").text
        assert "Failed to fetch" not in driver.find_element(By.ID, "error").text
        ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
        wait_for(driver, "viewing", 3)
        assert not driver.find_element(By.ID, "error").is_displayed()

        # within the minimum display time a key is ignored
        pressed_in = key_at_first_paint(driver, "ArrowLeft")
        assert pressed_in == ["viewing", "3"]
        wait_for(driver, "trial", 3)
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
        wait_for(driver, "done", 4)
    finally:
        driver.quit()
        running.process.terminate()
        running.process.wait(timeout=30)
    stored = sorted((row[2], row[5], row[6]) for row in session.responses.answers() if row[0] == rater)
    assert [(position, choice) for position, choice, _ in stored] == [(0, "right"), (1, "right"), (2, "left"),
                                                                     (3, "right")]
    assert all(ms >= 500 for *_, ms in stored)  # response times measured in the page, stored by the server


FLICKER_LOG = """
window.flickerLog = [];
const image = document.getElementById(arguments[0]);
new MutationObserver(() => window.flickerLog.push([performance.now(), image.getAttribute("src"), image.style.width,
                                                  image.style.transform]))
  .observe(image, {attributes: true, attributeFilter: ["src"]});
"""


@NEEDS_BROWSER
def test_a_triplet_trial_flickers_at_its_rate_and_takes_not_sure_in_chromium(tmp_path, study, run_cli):
    """A triplet study (webp's two settings on one image: each against the original, and against each
    other): flicker alternates each side with the original every 100 ms (5 cycles per second) at the same
    size and place, not sure is a key and a button, and nothing is accepted before the minimum display time."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    triplet = tmp_path / "triplet"
    assert run_cli("study", "create", study.parent / "results", "--out", triplet, "--design", "triplet", "--codecs",
                   "webp", "--images", "1", "--probes", "0", "--flicker-hz", "5", "--seed", "2") == 0
    running = Server(triplet, options=("--practice", "1"))
    session = Session(triplet)
    driver = _browser(tmp_path / "profile")
    try:
        driver.get(f"http://127.0.0.1:{running.port}/")
        driver.find_element(By.ID, "start-button").click()  # consent
        wait_for(driver, "instructions", 0)
        driver.find_element(By.ID, "start-button").click()
        wait_for(driver, "trial", 0)  # practice offers what the trials offer: not sure and flicker
        assert driver.execute_script("return document.body.dataset.practice") == "true"
        assert driver.find_element(By.ID, "choose-not-sure").is_displayed()
        assert driver.find_element(By.ID, "flicker").is_displayed()
        ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()
        # within the minimum display time neither the not-sure key nor the server takes an answer
        pressed_in = key_at_first_paint(driver, "ArrowDown")
        assert pressed_in == ["viewing", "0"]
        rater = driver.current_url.rsplit("/", 1)[-1]
        key = session.order(rater)[0].key
        status, refusal = running.json("POST", f"/api/{rater}/answer", {"key": key, "choice": "not_sure",
                                                                        "response_ms": 300})
        assert status == 429 and "too fast" in refusal["error"] and session.responses.answers() == []
        wait_for(driver, "trial", 0)
        assert driver.find_element(By.ID, "choose-not-sure").is_displayed()
        assert driver.find_element(By.ID, "flicker").is_displayed()
        sides = {i: driver.find_element(By.ID, i).get_attribute("src") for i in ("left", "right", "original")}
        original = sides["original"]
        side = "left" if sides["left"] != original else "right"  # a trial against the original has it on one side
        reconstruction = sides[side]
        driver.execute_script(FLICKER_LOG, side)
        ActionChains(driver).send_keys("b").perform()
        time.sleep(1.25)
        ActionChains(driver).send_keys("b").perform()
        log = driver.execute_script("return window.flickerLog")
        assert driver.execute_script("return document.body.dataset.flicker") == "off"
        assert driver.find_element(By.ID, side).get_attribute("src") == reconstruction  # stopped on the reconstruction
        shown = []  # (time, picture) whenever the panel's picture changes (src set again to itself: no change)
        for at, source, *_ in log:
            source = driver.execute_script("return new URL(arguments[0], location.href).href", source)
            if not shown or shown[-1][1] != source:
                shown.append((at, source))
        pictures = [source for _, source in shown]
        assert set(pictures) == {reconstruction, original} and all(a != b for a, b in zip(pictures, pictures[1:]))
        assert pictures.count(original) >= 4  # 1.25 s at 5 cycles per second: about 6 showings of the original
        steps = sorted(b[0] - a[0] for a, b in zip(shown, shown[1:]))
        assert 85 <= steps[len(steps) // 2] <= 115, steps  # each picture on screen 1/(2 x 5) s = 100 ms
        assert len({(entry[2], entry[3]) for entry in log}) == 1  # same size and place throughout: no resampling
        ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()  # not sure, by key
        wait_for(driver, "trial", 1)
        assert driver.execute_script("return document.body.dataset.flicker") == "off"  # each trial starts still
        driver.find_element(By.ID, "choose-not-sure").click()  # ... and by button
        wait_for(driver, "trial", 2)
        ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
        wait_for(driver, "done", 3)
    finally:
        driver.quit()
        running.process.terminate()
        running.process.wait(timeout=30)
    stored = sorted((row[2], row[5]) for row in session.responses.answers() if row[0] == rater)
    assert stored == [(0, "not_sure"), (1, "not_sure"), (2, "left")]
