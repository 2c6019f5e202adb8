"""``rdpbench study serve``: the rater web app (Starlette, run by uvicorn).

Routes
- ``GET /``: the consent page (``consent.md``, :mod:`rdpbench.study.consent`) with "I agree" (``POST
  /start``: registers a new rater with the consent time, or finds the participant's rater when a
  platform's participant id was seen before, and redirects to ``/r/<rater>``, the rater's page:
  bookmarkable, reloading it resumes) and "I do not agree" (``POST /decline``: a polite end page,
  nothing stored). With ``--platform`` the URL parameters of :mod:`rdpbench.study.platform` are
  checked on every route (400 naming the parameter); a participant seen before goes straight to their
  page; an MTurk preview shows the texts and no start button.
- ``GET /api/<rater>/next``: ``{"done", "answered", "total", "fresh", "practice", "trial": {"key",
  "left", "right", "original"}, "viewer"}`` (image URLs; ``viewer``: what the page offers besides
  2AFC, :meth:`rdpbench.study.session.Session.viewer`, also in practice; ``fresh``: nothing answered yet, so the page shows the
  instructions first; ``practice``: a practice item of :mod:`rdpbench.study.practice`, and
  ``answered``/``total`` count practice items) or, when done, ``{"done": true, "code": completion
  code, "completion": the platform hand-off or null}`` (409 instead when the rater finished in another
  platform session: :func:`rdpbench.study.platform.handed_in_once`).
- ``POST /api/<rater>/answer`` with JSON ``{"key", "choice": "left"|"right", "response_ms"}``: records
  the answer (:class:`rdpbench.study.session.Session`) and returns the next state.
- ``GET /images/<name>.png``: a study picture, served only while its bytes match the sha256 in
  study.json (checked when the server starts and on every request).

Unknown raters or trials get 404, raters who did not give consent through ``/start`` 403, malformed requests (not JSON, or nested deeper than an answer:
checked before parsing) 400, bodies over 4 KiB 413, out-of-order answers and answers conflicting
with one already recorded for the trial 409 (of two different answers sent at the same moment, one
is recorded and the other gets 409), answers sooner than ``MIN_DISPLAY_MS`` after the server sent
that trial (or with a shorter ``response_ms``) 429, and none of them changes the database. Database work runs in Starlette's
thread pool, one short SQLite connection per call, so raters do not wait for each other. The page and its script are the files in ``assets/``; the
same script runs the static export (:mod:`rdpbench.study.static`).
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from rdpbench import bounded_json
from rdpbench.study import consent, practice
from rdpbench.study import design as designs
from rdpbench.study.platform import HANDOFF, Platform, handed_in_once, join, returning, salt
from rdpbench.study.session import MIN_DISPLAY_MS, RequestError, Session, checked_fields

ASSETS = Path(__file__).with_name("assets")
_NAME = re.compile(r"[0-9a-f]{16}\.png")
_RATER = re.compile(r"[0-9a-f]{16}")
MAX_BODY = 4096
MAX_DEPTH = 2  # an answer is one flat object


def rater_page(mode: str, title: str, extra_head: str = "", instructions: str | None = None) -> str:
    """The rater page: ``mode`` is ``server`` or ``static`` (which backend the script uses);
    ``instructions`` (HTML, :func:`rdpbench.study.consent.texts`) replaces the built-in ones."""
    page = (ASSETS / "rater.html").read_text()
    if instructions is not None:
        page = re.sub(r"<!--instructions-->.*<!--/instructions-->", lambda _: instructions, page, flags=re.S)
    return (page.replace("{{title}}", html.escape(title)).replace("{{mode}}", mode)
            .replace("{{min_width}}", str(consent.MIN_WINDOW[0])).replace("{{min_height}}", str(consent.MIN_WINDOW[1]))
            .replace("{{style}}", (ASSETS / "rater.css").read_text())
            .replace("{{script}}", (ASSETS / "rater.js").read_text()).replace("{{head}}", extra_head)
            .replace("{{min_display_ms}}", str(MIN_DISPLAY_MS)))


def practice_state(session: Session, rater: str, count: int) -> dict | None:
    """The state of a rater still in practice (:mod:`rdpbench.study.practice`), else None."""
    index, given = practice.pending(session, rater, count)
    if index is None:
        return None
    return {"done": False, "practice": True, "fresh": given == 0, "answered": given, "total": count,
            "trial": practice.item(session, rater, index), "viewer": session.viewer()}


def state(session: Session, rater: str) -> dict:
    shown, answered, total = session.progress(rater)
    if shown is None:
        return {"done": True, "answered": answered, "total": total, "code": session.completion_code(rater)}
    return {"done": False, "answered": answered, "total": total,
            "trial": {"key": shown.key, "left": f"/images/{shown.left_file}", "right": f"/images/{shown.right_file}",
                      "original": f"/images/{shown.trial['original']}"}, "viewer": session.viewer()}


def create_app(folder: Path, platform: Platform = Platform(), practice_trials: int = practice.DEFAULT_PRACTICE) -> Starlette:
    """The app for one study folder; raises StudyError when a picture was tampered with or a study
    text cannot be read."""
    session = Session(folder)
    designs.verify_images(session.folder, session.design)
    title = f"Image comparison study {session.design['study_id']}"
    if not 0 <= practice_trials <= practice.MAX_PRACTICE:
        raise designs.StudyError(f"--practice must be between 0 and {practice.MAX_PRACTICE}")
    consent_html, instructions_html = consent.texts(session.folder, session.design, practice_trials)
    key = salt(session.folder) if platform.name != "none" else None
    style = (ASSETS / "rater.css").read_text()

    def rater_of(request: Request) -> str:
        rater = request.path_params["rater"]
        if not _RATER.fullmatch(rater) or session.responses.rater_seed(rater) is None:
            raise RequestError("unknown rater", 404)
        if session.responses.consent(rater) is None:  # e.g. a static or simulated rater: never through here
            raise RequestError("this rater has not given consent here: start from the study's first page", 403)
        return rater

    def plain(state_name: str, content: str, status: int = 200) -> Response:
        return HTMLResponse(consent.page(title, state_name, content, style), status_code=status)

    def welcome(request: Request) -> Response:
        """The consent page; a participant seen before goes straight to their rater."""
        arrival = platform.arrival(request.query_params)
        if arrival.preview:
            return plain("preview", consent_html + instructions_html + "<p><b>Accept the HIT to begin.</b></p>")
        known = returning(session, key, arrival)
        if known:
            return RedirectResponse(f"/r/{known}{arrival.query(HANDOFF[platform.name])}", status_code=303)
        query = html.escape(arrival.query())
        return plain("welcome", consent_html + (
            f'<form id="start" method="post" action="start{query}"><button type="submit" id="start-button" '
            'autofocus>I agree — continue</button></form>'
            f'<form id="decline" method="post" action="decline{query}"><button type="submit" id="decline-button">'
            'I do not agree</button></form>'))

    def start(request: Request) -> Response:
        arrival = platform.arrival(request.query_params)
        if arrival.preview:
            raise RequestError("accept the HIT on MTurk before starting", 400)
        rater = returning(session, key, arrival) or join(session, key, arrival)
        return RedirectResponse(f"/r/{rater}{arrival.query(HANDOFF[platform.name])}", status_code=303)

    def decline(request: Request) -> Response:
        platform.arrival(request.query_params)
        where = {"prolific": " Please return your submission on Prolific (no completion code is needed).",
                 "mturk": " Please return the HIT on MTurk.", "none": ""}[platform.name]
        return plain("declined", "<h2>Thank you for considering this study.</h2><p>You did not agree, so no "
                     f"answers were collected and nothing about you was stored.{where} You may close this page.</p>")

    def page(request: Request) -> Response:
        rater_of(request)
        platform.arrival(request.query_params, handoff=True)
        return HTMLResponse(rater_page("server", title, instructions=instructions_html))

    sent: dict[str, tuple[str, float]] = {}  # rater -> (key of the trial last sent, time.monotonic() then)

    def state_sent(rater: str, request: Request) -> dict:
        current = practice_state(session, rater, practice_trials)
        if current is None:
            current = state(session, rater)
            current.update(practice=False, fresh=current["answered"] == 0
                           and not session.responses.practice_answered(rater))
        if not current["done"]:
            sent[rater] = (current["trial"]["key"], time.monotonic())
        else:
            arrival = platform.arrival(request.query_params, handoff=True)
            handed_in_once(session, key, arrival, rater)
            current["completion"] = platform.completion(arrival, current["code"])
        return current

    def next_trial(request: Request) -> Response:
        rater = rater_of(request)
        platform.arrival(request.query_params, handoff=True)
        return JSONResponse(state_sent(rater, request))

    def early(rater: str, key: str) -> None:
        """Refuse (429) an answer sooner than MIN_DISPLAY_MS after this server sent the trial."""
        key_sent, at = sent.get(rater, (None, 0.0))
        if key_sent == key and (time.monotonic() - at) * 1000 < MIN_DISPLAY_MS:
            raise RequestError(f"too fast: look at the pictures for at least {MIN_DISPLAY_MS} ms", 429)

    async def answer(request: Request) -> Response:
        rater = await run_in_threadpool(rater_of, request)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise RequestError("request too large", 413)
        try:
            document = bounded_json.loads(body, MAX_BODY, MAX_DEPTH, "the body")
        except bounded_json.JSONLimitError as error:
            raise RequestError(f"{error}; send JSON {{\"key\", \"choice\", \"response_ms\"}}", 400) from None
        if not isinstance(document, dict) or not isinstance(document.get("key"), str):
            raise RequestError("the body must be a JSON object with a string \"key\"", 400)
        checked_fields(document.get("choice"), document.get("response_ms"), None)  # 400 before 429
        platform.arrival(request.query_params, handoff=True)
        early(rater, document["key"])
        if not await run_in_threadpool(practice.answer, session, rater, practice_trials, document["key"],
                                       document.get("choice"), document.get("response_ms")):
            await run_in_threadpool(session.answer, rater, document["key"], document.get("choice"),
                                    document.get("response_ms"))
        return JSONResponse(await run_in_threadpool(state_sent, rater, request))

    def image(request: Request) -> Response:
        name = request.path_params["name"]
        if not _NAME.fullmatch(name) or name not in session.design["files"]:
            raise RequestError("no such image", 404)
        data = designs.picture(session.folder, name).read_bytes()
        if hashlib.sha256(data).hexdigest() != session.design["files"][name]:
            return PlainTextResponse(f"study image {name} was modified since the study was created; "
                                     "refusing to serve it", status_code=503)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def request_error(request: Request, error: RequestError) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.startswith("/images/"):
            return JSONResponse({"error": str(error)}, status_code=error.status)
        return plain("refused", f"<h2>This link cannot be used</h2><p>{html.escape(str(error))}</p>", error.status)

    routes = [Route("/", welcome), Route("/start", start, methods=["POST"]),
              Route("/decline", decline, methods=["POST"]), Route("/r/{rater}", page),
              Route("/api/{rater}/next", next_trial), Route("/api/{rater}/answer", answer, methods=["POST"]),
              Route("/images/{name}", image)]
    return Starlette(routes=routes, exception_handlers={RequestError: request_error})


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``; StudyError saying what to change when it cannot be (the
    port is taken or out of range, the host is not an address of this machine or does not resolve)."""
    try:
        if not 1 <= port <= 65535:  # getaddrinfo would wrap 70000 round to 4464
            raise OverflowError(f"port {port} is not between 1 and 65535")
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind)
    except (OSError, UnicodeError, OverflowError) as error:
        raise designs.StudyError(f"cannot listen on {host}:{port} ({getattr(error, 'strerror', None) or error}): "
                                 "give --host an address of this machine (default 127.0.0.1, 0.0.0.0 for all) "
                                 "and --port a number from 1 to 65535") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except (OSError, OverflowError) as error:
        listener.close()
        raise designs.StudyError(f"cannot listen on {host}:{port} ({getattr(error, 'strerror', None) or error}): "
                                 "choose another --port (or stop what uses it), or give --host an address of "
                                 "this machine") from None
    return listener


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8000, platform: Platform = Platform(),
          practice_trials: int = practice.DEFAULT_PRACTICE) -> None:
    import uvicorn

    app = create_app(folder, platform, practice_trials)
    listener = listening_socket(host, port)
    print(f"study {folder}: raters open http://{host}:{port}/  (Ctrl-C stops; answers are saved as they come)",
          flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
