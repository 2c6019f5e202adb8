"""``rdpbench study serve``: the rater web app (Starlette, run by uvicorn).

Routes
- ``GET /``: instructions and a start button; ``POST /start`` registers a new rater (opaque id) and
  redirects to ``/r/<rater>``, the rater's page (bookmarkable: reloading it resumes).
- ``GET /api/<rater>/next``: ``{"done", "answered", "total", "trial": {"key", "left", "right",
  "original"}}`` (image URLs) or, when done, ``{"done": true, "code": completion code}``.
- ``POST /api/<rater>/answer`` with JSON ``{"key", "choice": "left"|"right", "response_ms"}``: records
  the answer (:class:`rdpbench.study.session.Session`) and returns the next state.
- ``GET /images/<name>.png``: a study picture, served only while its bytes match the sha256 in
  study.json (checked when the server starts and on every request).

Unknown raters or trials get 404, malformed requests (not JSON, or nested deeper than an answer:
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
from rdpbench.study import design as designs
from rdpbench.study.session import MIN_DISPLAY_MS, RequestError, Session, checked_fields

ASSETS = Path(__file__).with_name("assets")
_NAME = re.compile(r"[0-9a-f]{16}\.png")
_RATER = re.compile(r"[0-9a-f]{16}")
MAX_BODY = 4096
MAX_DEPTH = 2  # an answer is one flat object


def rater_page(mode: str, title: str, extra_head: str = "") -> str:
    """The rater page: ``mode`` is ``server`` or ``static`` (which backend the script uses)."""
    page = (ASSETS / "rater.html").read_text()
    return (page.replace("{{title}}", html.escape(title)).replace("{{mode}}", mode)
            .replace("{{style}}", (ASSETS / "rater.css").read_text())
            .replace("{{script}}", (ASSETS / "rater.js").read_text()).replace("{{head}}", extra_head)
            .replace("{{min_display_ms}}", str(MIN_DISPLAY_MS)))


def state(session: Session, rater: str) -> dict:
    shown, answered, total = session.progress(rater)
    if shown is None:
        return {"done": True, "answered": answered, "total": total, "code": session.completion_code(rater)}
    return {"done": False, "answered": answered, "total": total,
            "trial": {"key": shown.key, "left": f"/images/{shown.left_file}", "right": f"/images/{shown.right_file}",
                      "original": f"/images/{shown.trial['original']}"}, "viewer": session.viewer()}


def create_app(folder: Path) -> Starlette:
    """The app for one study folder; raises StudyError when a picture was tampered with."""
    session = Session(folder)
    designs.verify_images(session.folder, session.design)
    title = f"Image comparison study {session.design['study_id']}"

    def rater_of(request: Request) -> str:
        rater = request.path_params["rater"]
        if not _RATER.fullmatch(rater) or session.responses.rater_seed(rater) is None:
            raise RequestError("unknown rater", 404)
        return rater

    def welcome(request: Request) -> Response:
        return HTMLResponse(rater_page("welcome", title))

    def start(request: Request) -> Response:
        return RedirectResponse(f"/r/{session.register('web')}", status_code=303)

    def page(request: Request) -> Response:
        rater_of(request)
        return HTMLResponse(rater_page("server", title))

    sent: dict[str, tuple[str, float]] = {}  # rater -> (key of the trial last sent, time.monotonic() then)

    def state_sent(rater: str) -> dict:
        current = state(session, rater)
        if not current["done"]:
            sent[rater] = (current["trial"]["key"], time.monotonic())
        return current

    def next_trial(request: Request) -> Response:
        return JSONResponse(state_sent(rater_of(request)))

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
        early(rater, document["key"])
        await run_in_threadpool(session.answer, rater, document["key"], document.get("choice"),
                                document.get("response_ms"))
        return JSONResponse(await run_in_threadpool(state_sent, rater))

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
        return JSONResponse({"error": str(error)}, status_code=error.status)

    routes = [Route("/", welcome), Route("/start", start, methods=["POST"]), Route("/r/{rater}", page),
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


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    app = create_app(folder)
    listener = listening_socket(host, port)
    print(f"study {folder}: raters open http://{host}:{port}/  (Ctrl-C stops; answers are saved as they come)",
          flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
