"""`rdpbench study serve --platform prolific|mturk`: URL parameters checked, participant ids stored
only as salted hashes, a returning participant resuming their rater, MTurk's submit host allow-list,
consent and instruction texts from Markdown with raw HTML escaped, practice trials kept out of the
answers, and one Prolific participant walked through in Chromium (consent, instructions, practice,
a too-small window, trials, the redirect to the completion URL)."""

import gc
import hashlib
import hmac
import json
import math
import os
import shutil
import stat
import threading
import time
import urllib.parse

import pytest

from rdpbench.study import consent
from rdpbench.study.analysis import responses_frame
from rdpbench.study.session import Session
from test_study_web import NEEDS_BROWSER, Server, _browser, _free_port, body_state, study, wait_for  # noqa: F401

PID = "5f3c9b2a7e4d1c0b9a8f7e6d"  # the shape of a Prolific id: 24 hex digits
HOSTILE = "# Consent\n\n**Bold** <script>alert(1)</script> [site](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n" \
          "<div onclick=alert(4)>block</div>\n\n[ok](https://example.org/info)\n"


def _copy(study, target):
    shutil.copytree(study, target, ignore=shutil.ignore_patterns("responses.sqlite*", "participant-salt"))
    return target


def _serve(folder, *options):
    return Server(folder, options=options)


def _stop(*servers):
    for running in servers:
        running.process.terminate()
        running.process.wait(timeout=30)


def _files_contain(folder, text: str) -> list[str]:
    return [str(path) for path in folder.rglob("*") if path.is_file() and text.encode() in path.read_bytes()]


def test_study_create_writes_consent_and_instructions_stating_duration_and_conditions(study):
    design = json.loads((study / "study.json").read_text())
    text = (study / consent.CONSENT_NAME).read_text()
    minutes = math.ceil((len(design["trials"]) + 2) * 8 / 60) + 2  # 8 s per pair, 2 practice pairs, 2 min reading
    assert f"about {minutes} minutes" in text and f"{len(design['trials'])} picture pairs" in text
    assert "1280 × 720" in text and "zoom at 100 %" in text and "one-way salted hash" in text
    assert "**Practice**" in (study / consent.INSTRUCTIONS_NAME).read_text()


def test_markdown_from_a_study_folder_cannot_inject_script():
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.seen = []

        def handle_starttag(self, tag, attrs):
            self.seen.append((tag, attrs))

    rendered = consent.render(HOSTILE)
    parser = Tags()
    parser.feed(rendered)
    # only Markdown's own elements, and the one https link: no script, img, div, handler or javascript: URL
    assert parser.seen == [("h1", []), ("p", []), ("strong", []), ("a", []), ("p", []), ("p", []),
                           ("a", [("href", "https://example.org/info")])], parser.seen
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # shown as text, not run
    # character references in an address are decoded by the browser (as by HTMLParser) before the URL
    # parser drops tabs and newlines: none may come out as a scheme other than http(s) or mailto
    parser = Tags()
    parser.feed(consent.render("[a](&#106;avascript:alert(1)) [b](java&#x09;script:alert(2)) "
                               "[c](javascript&#58;alert(3)) ![d](jav&#10;ascript:alert(4)) [e](page.html#x) "
                               "[f](?q=1:2) [g](HTTPS://example.org/) ![h](https://tracker.example/p.png) "
                               "![i](//tracker.example/p.png) ![j](/\\tracker.example/p.png) "
                               "![l](/\\\\tracker.example/p.png) ![k](figure.png)"))
    addresses = [value for _, attrs in parser.seen for name, value in attrs if name in ("href", "src")]
    # pictures stay on the study's server: a remote one would give its host every participant's IP address
    assert addresses == ["page.html#x", "?q=1:2", "HTTPS://example.org/", "figure.png"], addresses


def test_prolific_parameters_hash_only_storage_and_resume(tmp_path, study, run_cli, capsys):
    folder = _copy(study, tmp_path / "prolific")
    (folder / consent.CONSENT_NAME).write_text(HOSTILE)
    running = _serve(folder, "--platform", "prolific", "--completion-code", "C0DE42", "--practice", "1")
    try:
        assert stat.S_IMODE(os.stat(folder / "participant-salt").st_mode) == 0o600
        bad = ["", "?STUDY_ID=abc", "?PROLIFIC_PID=", "?PROLIFIC_PID=a%20b", f"?PROLIFIC_PID={'a' * 65}",
               "?PROLIFIC_PID=%3Cscript%3E", "?PROLIFIC_PID=%C3%A9t%C3%A9", f"?PROLIFIC_PID={PID}&PROLIFIC_PID=x",
               f"?PROLIFIC_PID={PID}&SESSION_ID=..%2F..", f"?PROLIFIC_PID={PID}&STUDY_ID={'s' * 100}"]
        for query in bad:
            for method, path in (("GET", "/"), ("POST", "/start")):
                status, body, _ = running.request(method, path + query)
                assert status == 400, (method, query, body)
                assert b"<script>" not in body
        status, body, _ = running.request("GET", f"/?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x1")
        assert status == 200 and b"&lt;script&gt;" in body and b"<script>alert" not in body
        assert b'id="start-button"' in body and b'id="decline-button"' in body
        status, body, _ = running.request("POST", f"/decline?PROLIFIC_PID={PID}")
        assert status == 200 and b"return your submission" in body and b"C0DE42" not in body

        # the same participant starting at the same moment four times, then coming back: one rater
        locations = []
        threads = [threading.Thread(target=lambda: locations.append(
            running.request("POST", f"/start?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x{i}")))
            for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert {status for status, _, _ in locations} == {303}
        targets = {headers["location"] for _, _, headers in locations}
        assert len(targets) == 1 and PID not in targets.pop()
        status, _, headers = running.request("GET", f"/?PROLIFIC_PID={PID}")
        rater = headers["location"].rsplit("/", 1)[-1]
        assert status == 303 and headers["location"] == f"/r/{rater}"  # straight back to their own rater
        status, state = running.json("GET", f"/api/{rater}/next")
        assert status == 200 and state["practice"] and state["fresh"] and state["total"] == 1
        time.sleep(0.6)  # past the minimum display time, which the server counts from this state
        status, refusal = running.json("POST", f"/api/{rater}/answer", {"key": state["trial"]["key"],
                                                                       "choice": "not_sure", "response_ms": 900})
        assert status == 400 and "triplet" in refusal["error"]  # practice takes the study's own answers only
        other = running.request("POST", "/start?PROLIFIC_PID=5f3c9b2a7e4d1c0b9a8f7e6e")[2]["location"]
        assert other.rsplit("/", 1)[-1] != rater
    finally:
        _stop(running)
    session = Session(folder)
    salt = bytes.fromhex((folder / "participant-salt").read_text())
    expected = hmac.new(salt, f"prolific:{PID}".encode(), hashlib.sha256).hexdigest()
    rows = session.responses._query("SELECT rater, platform, participant_hash, consented_at FROM participants")
    assert len(rows) == 2 and (rater, "prolific", expected) in [row[:3] for row in rows]
    assert len(session.responses.raters()) == 2  # four starts of one participant made one rater
    assert _files_contain(folder, PID) == []  # the raw id is in no file of the study (database, WAL, salt, texts)
    assert run_cli("study", "status", folder, "--participant", PID) == 0
    assert f"participant {PID} (prolific): rater {rater}, 0 of" in capsys.readouterr().out
    assert run_cli("study", "export-static", folder, tmp_path / "static", "--raters", "1") == 0
    assert _files_contain(tmp_path / "static", salt.hex()) == [] and not (tmp_path / "static" / "participant-salt").exists()


def test_serve_refuses_a_platform_without_what_it_needs(study, run_cli, capsys):
    for options, message in ((["--platform", "prolific"], "needs --completion-code"),
                             (["--platform", "prolific", "--completion-code", "a b"], "needs --completion-code"),
                             (["--platform", "prolific", "--completion-code", "C1", "--completion-url",
                               "javascript:alert(1)//{code}"], "http(s) URL"),
                             (["--completion-url", "https://example.org/done"], "containing {code}"),
                             (["--platform", "mturk", "--completion-url", "https://x.org/?c={code}"], "does not apply"),
                             (["--completion-code", "C1"], "with --platform prolific only"),
                             (["--practice", "-1"], "--practice must be between 0")):
        assert run_cli("study", "serve", study, "--port", str(_free_port()), *options) == 2, options
        assert message in capsys.readouterr().err, options


def test_mturk_preview_submit_host_allow_list_and_completion_form(tmp_path, study):
    folder = _copy(study, tmp_path / "mturk")
    running = _serve(folder, "--platform", "mturk")
    arrival = {"workerId": "A1B2C3D4E5F6G7", "assignmentId": "3AAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "hitId": "3HHHHH",
               "turkSubmitTo": "https://workersandbox.mturk.com/"}
    try:
        status, body, _ = running.request("GET", "/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=3HHHHH")
        assert status == 200 and b'data-state="preview"' in body and b"start-button" not in body
        assert running.request("POST", "/start?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=3HHHHH")[0] == 400
        for host in ("https://evil.example", "https://www.mturk.com.evil.example", "http://www.mturk.com",
                     "https://www.mturk.com@evil.example", "//evil.example", "https://www.mturk.com/x", ""):
            query = urllib.parse.urlencode({**arrival, "turkSubmitTo": host})
            assert running.request("GET", f"/?{query}")[0] == 400, host
            assert running.request("POST", f"/start?{query}")[0] == 400, host
        status, _, headers = running.request("POST", "/start?" + urllib.parse.urlencode(arrival))
        assert status == 303 and arrival["workerId"] not in headers["location"]
        page = headers["location"]
        rater = page.split("?")[0].rsplit("/", 1)[-1]
        assert urllib.parse.parse_qs(page.split("?")[1]) == {"assignmentId": [arrival["assignmentId"]],
                                                             "turkSubmitTo": ["https://workersandbox.mturk.com"]}
        session = Session(folder)
        unconsented = session.register("static")  # a rater who never passed the consent page
        assert running.request("GET", f"/api/{unconsented}/next?{page.split('?')[1]}")[0] == 403
        # before finishing, the worker returns the HIT and accepts another assignment: it is theirs now
        arrival_b = {**arrival, "assignmentId": "3BBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}
        status, _, headers = running.request("GET", "/?" + urllib.parse.urlencode(arrival_b))
        assert status == 303 and headers["location"].split("?")[0] == f"/r/{rater}"
        page = headers["location"]
        for shown in session.order(rater):  # answered through the session: the hand-off is what is tested here
            session.answer(rater, shown.key, "left", 900)
        evil = page.replace("workersandbox.mturk.com", "evil.example")
        assert running.request("GET", f"/api/{rater}/next?{evil.split('?')[1]}")[0] == 400
        status, state = running.json("GET", f"/api/{rater}/next?{page.split('?')[1]}")
        assert status == 200 and state["done"]
        # the worker comes back: through the assignment they finished in to their rater; through another
        # one refused, also on their own page's address with another assignmentId (no second hand-in)
        again = running.request("GET", "/?" + urllib.parse.urlencode(arrival_b))
        assert again[0] == 303 and again[2]["location"] == page
        for other in (arrival["assignmentId"], "3CCCCCCCCCCCCCCCCCCCCCCCCCCCCC"):
            second = urllib.parse.urlencode({**arrival, "assignmentId": other})
            for method, path in (("GET", "/"), ("POST", "/start")):
                status, body, _ = running.request(method, f"{path}?{second}")
                assert status == 409 and b"already completed" in body and b"return this" in body
            status, body, _ = running.request("GET", f"/api/{rater}/next?assignmentId={other}"
                                                     "&turkSubmitTo=https://workersandbox.mturk.com")
            assert status == 409 and b"already completed" in body and b"completionCode" not in body
        assert state["completion"] == {"post": "https://workersandbox.mturk.com/mturk/externalSubmit", "fields": {
            "assignmentId": arrival_b["assignmentId"], "completionCode": session.completion_code(rater)}}
    finally:
        _stop(running)
    assert _files_contain(folder, arrival["workerId"]) == [] and _files_contain(folder, arrival["assignmentId"]) == []
    assert _files_contain(folder, arrival_b["assignmentId"]) == []


@NEEDS_BROWSER
def test_a_prolific_participant_walks_consent_instructions_practice_trials_and_returns(tmp_path, study):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from rdpbench.cli import main

    folder = tmp_path / "walk"  # three trials: one pairing on two images and a probe
    assert main(["study", "create", str(study.parent / "results"), "--out", str(folder), "--design", "round-robin",
                 "--entries", "jpeg:quality=10,jpeg:quality=60", "--probes", "1", "--seed", "2"]) == 0
    port = _free_port()
    finish = f"http://127.0.0.1:{port}/finished?cc={{code}}"  # this machine: nothing leaves it
    running = Server(folder, port, ("--platform", "prolific", "--completion-code", "C0DE42", "--completion-url",
                                    finish, "--practice", "2"))
    session = Session(folder)
    total = len(session.trials)
    driver = _browser(tmp_path / "profile")

    def resize(width, height):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def practice_state():
        return driver.execute_script("return document.body.dataset.practice")

    try:
        resize(1280, 720)
        driver.get(f"http://127.0.0.1:{port}/?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x1")
        assert body_state(driver)[0] == "welcome" and "Duration" in driver.find_element(By.ID, "text").text
        driver.find_element(By.ID, "start-button").click()
        wait_for(driver, "instructions", 0)
        rater = driver.current_url.rsplit("/", 1)[-1]
        assert session.responses.consent(rater)[0] == "prolific"  # consent recorded before any trial
        assert "closer to the original" in driver.find_element(By.ID, "instructions").text
        driver.find_element(By.ID, "start-button").click()
        for index in range(2):
            wait_for(driver, "trial", index)
            assert practice_state() == "true" and "not counted" in driver.find_element(By.ID, "progress").text
            if index == 1:  # too small a window: a notice, and no answer until it fits again
                resize(1000, 600)
                notice = driver.find_element(By.ID, "too-small")
                WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: notice.is_displayed())
                assert "1000×600" in notice.text and "1280×720" in notice.text and "zoom" in notice.text
                ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
                assert body_state(driver) == ("trial", 1) and practice_state() == "true"
                resize(1280, 720)
                WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: not notice.is_displayed())
            ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
        for position in range(total):
            wait_for(driver, "trial", position)
            assert practice_state() == "false"
            ActionChains(driver).send_keys(Keys.ARROW_RIGHT if position % 2 else Keys.ARROW_LEFT).perform()
        WebDriverWait(driver, 30, poll_frequency=0.05).until(lambda d: "/finished" in d.current_url)
        assert driver.current_url == finish.replace("{code}", "C0DE42")
        # the done page shows the code the redirect carries (Prolific's), should the redirect be blocked
        assert running.json("GET", f"/api/{rater}/next")[1]["completion"] == {
            "redirect": finish.replace("{code}", "C0DE42"), "code": "C0DE42"}
    finally:
        driver.quit()
        _stop(running)
    assert sorted(session.responses.practice_answered(rater).items()) == [(0, "left"), (1, "left")]
    answers = responses_frame(session)
    assert len(answers) == total and set(answers["rater"]) == {rater}  # practice is not an answer
    assert [choice for _, choice in sorted(zip(answers["position"], answers["choice"]))] == \
        ["right" if p % 2 else "left" for p in range(total)]
    assert _files_contain(folder, PID) == []


def _snapshot(folder):
    return {path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in folder.iterdir() if path.is_file()}


def test_study_power_matches_independent_computations_and_never_touches_the_study(tmp_path, study, run_cli, capsys):
    """One pairing (jpeg q10 against q60) on the fixture's 2 images, no probes: each rater's preference
    is the mean of 2 answers, Binomial(2, p) / 2. The SE curve is recomputed by drawing such preferences
    with numpy; the power's test decision by scipy's one-sample t-test on one simulation's answers."""
    import numpy as np
    from scipy import stats

    from rdpbench.study.power import GRID, power
    from rdpbench.study.simulate import simulate

    folder = tmp_path / "two"
    assert run_cli("study", "create", study.parent / "results", "--out", folder, "--design", "round-robin",
                   "--entries", "jpeg:quality=10,jpeg:quality=60", "--probes", "0", "--seed", "5") == 0
    assert run_cli("study", "simulate", folder, "--raters", "2", "--model", "metric:psnr", "--seed", "1") == 0
    gc.collect()  # closes the simulation's database connection (its last checkpoint writes the file)
    before = _snapshot(folder)
    model = "bt:jpeg:quality=10=0,jpeg:quality=60=0.5"
    assert run_cli("study", "power", folder, "--model", model, "--target-se", "0.1", "--max-raters", "12",
                   "--simulations", "20") == 0
    out = capsys.readouterr()
    p, rng = 1 / (1 + math.exp(-0.5)), np.random.default_rng(0)
    rows = {int(cells[1]): float(cells[2]) for cells in (line.split("|") for line in out.out.splitlines())
            if len(cells) == 4 and cells[1].strip().isdigit()}
    for n in (8, 12):  # mean SE about 0.118 and 0.096
        expected = float(np.mean((rng.binomial(2, p, size=(20000, n)) / 2).std(axis=1, ddof=1) / math.sqrt(n)))
        assert abs(rows[n] - expected) < 0.15 * expected, (n, rows[n], expected)
    assert "raters needed: 12" in out.out and "mean over 20 simulations" in out.out
    assert "simulation 20/20" in out.err  # progress

    # --effect: one simulation, so each point of the curve is that simulation's test decision
    strong = "bt:jpeg:quality=10=0,jpeg:quality=60=1"
    curve, _, question = power(folder, strong, effect=0.7, max_raters=16, simulations=1, seed=7)
    replay = tmp_path / "replay"
    replay.mkdir()
    shutil.copyfile(folder / "study.json", replay / "study.json")
    raters = simulate(replay, 16, strong, seed=7)  # the same seed: the same answers
    session = Session(replay)
    means = [np.mean([session.order(r)[0].trial["a"] == (row[3] if row[5] == "left" else row[4])
                      for row in session.responses.answers() if row[0] == r]) for r in raters]
    for n in [g for g in GRID if g < 16] + [16]:
        sample = np.array(means[:n])
        if sample.std() > 0:
            decision = stats.ttest_1samp(sample, 0.5).pvalue < 0.05
        else:  # all alike: the sign test over raters
            decision = sample.mean() != 0.5 and stats.binomtest(n, n).pvalue < 0.05
        assert float(curve.loc[curve["raters"] == n, "power"].iloc[0]) == float(decision), n
    assert "t-test" in question and "alpha 0.05" in question
    with pytest.raises(Exception, match="no pairing has a preference of 0.8"):
        power(folder, strong, effect=0.8, max_raters=4, simulations=1)
    assert _snapshot(folder) == before  # the study's own files, responses.sqlite included, untouched
