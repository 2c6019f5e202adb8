"""A study without a server: ``study export-static`` writes a self-contained folder (``index.html``,
``study-data.js``, ``images/``, ``links.csv``) that works from disk or any static host; the rater's
browser keeps the answers (localStorage) and finally offers a results file, which ``study import``
checks and records through the same :class:`~rdpbench.study.session.Session` as the web app.

Raters are registered at export time (``--raters N``, source ``static``) so their trial orders are
fixed and recorded; each gets a link ``index.html?rater=<id>`` (``links.csv``). No completion code is
written anywhere in the folder: the page derives a rater's code from their answers after the last one
(:meth:`~rdpbench.study.session.Session.static_code`), ``study import`` prints it for each file and
``study status --codes`` lists it, so the lab can check the code a rater hands in. The results file is JSON: ``{"format": "rdpbench-study-answers/1",
"study_id", "rater", "answers": [{"key", "choice", "response_ms", "answered_at"}]}``. Import refuses a
file of another study, an unknown rater or trial, a bad choice, or answers that are not a prefix of the
rater's order, and then records nothing from that file; importing a file again adds nothing.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from rdpbench import bounded_json
from rdpbench.study import design as designs
from rdpbench.study.session import RequestError, Session, checked_fields, source_kind
from rdpbench.study.webapp import rater_page

ANSWERS_FORMAT = "rdpbench-study-answers/1"
MAX_FILE_BYTES = 10 << 20
MAX_DEPTH = 3  # {"answers": [{...}]}


def export_static(folder: Path, out: Path, raters: int) -> list[str]:
    """Write the static study into ``out`` (must not exist or be empty); return the rater ids."""
    session = Session(folder)
    designs.verify_images(session.folder, session.design)
    out = Path(out)
    if raters < 1:
        raise designs.StudyError("--raters must be at least 1")
    if out.exists() and any(out.iterdir()):
        raise designs.StudyError(f"{out} is not empty; choose a new folder for the static study")
    (out / designs.IMAGES_DIR).mkdir(parents=True)
    for name in session.design["files"]:
        shutil.copyfile(designs.picture(session.folder, name), designs.picture(out, name))
    data = {"study_id": session.design["study_id"], "raters": {}, "viewer": session.viewer()}  # viewer: triplets
    ids = []
    for _ in range(raters):
        rater = session.register("static")
        ids.append(rater)
        data["raters"][rater] = {"code_key": session.static_code_key(rater), "trials": [
            {"key": s.key, "left": f"images/{s.left_file}", "right": f"images/{s.right_file}",
             "original": f"images/{s.trial['original']}"} for s in session.order(rater)]}
    (out / "study-data.js").write_text(f"window.STUDY_DATA = {json.dumps(data)};\n")
    title = f"Image comparison study {session.design['study_id']}"
    (out / "index.html").write_text(rater_page("static", title, '<script src="study-data.js"></script>'))
    with open(out / "links.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["rater", "link"])
        for rater in ids:
            writer.writerow([rater, f"index.html?rater={rater}"])
    return ids


def import_file(folder: Path, path: Path) -> tuple[int, int, str | None]:
    """Record one results file; return (answers added, answers already recorded, the rater's
    completion code when the file completes the study, else None)."""
    session = Session(folder)
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise designs.StudyError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; not a study results file")
        document = bounded_json.loads(path.read_bytes(), MAX_FILE_BYTES, MAX_DEPTH, "it")
    except bounded_json.JSONLimitError as error:
        raise designs.StudyError(f"{path}: {error}; expected a file saved by the static study page") from None
    except OSError as error:
        raise designs.StudyError(f"cannot read {path} ({error.strerror})") from None
    if not isinstance(document, dict) or document.get("format") != ANSWERS_FORMAT:
        raise designs.StudyError(f"{path}: not a study results file ({ANSWERS_FORMAT})")
    if document.get("study_id") != session.design["study_id"]:
        raise designs.StudyError(f"{path}: answers of study {document.get('study_id')!r}, "
                                 f"not of this study ({session.design['study_id']})")
    rater, answers = document.get("rater"), document.get("answers")
    issued = {r for r, _, _, source in session.responses.raters() if source_kind(source) == "static"}
    if not isinstance(rater, str) or rater not in issued:  # a web or simulated rater is not the page's
        raise designs.StudyError(f"{path}: rater {rater!r} was not issued by `study export-static` for this study")
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise designs.StudyError(f"{path}: 'answers' must be a list of objects")
    positions = {shown.key: shown.position for shown in session.order(rater)}
    keys = [a.get("key") for a in answers]
    if any(k not in positions for k in keys) or len(set(keys)) != len(keys):
        raise designs.StudyError(f"{path}: unknown or repeated trial keys for rater {rater}")
    if sorted(positions[k] for k in keys) != list(range(len(keys))):
        raise designs.StudyError(f"{path}: the answers are not the first {len(keys)} trials of rater {rater}")
    known = session.responses.answered(rater)
    order = {shown.key: shown.trial["id"] for shown in session.order(rater)}
    try:
        for answer in answers:
            checked_fields(answer.get("choice"), answer.get("response_ms"), answer.get("answered_at"))
            if known.get(order[answer["key"]], answer["choice"]) != answer["choice"]:
                raise RequestError("a trial already has the other answer in the study", 409)
        added = sum(session.answer(rater, a["key"], a["choice"], a.get("response_ms"), a.get("answered_at"), "static")
                    for a in sorted(answers, key=lambda a: positions[a["key"]]))
    except RequestError as error:
        raise designs.StudyError(f"{path}: {error}") from None
    return added, len(answers) - added, session.code_of(rater)
