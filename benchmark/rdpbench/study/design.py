"""``rdpbench study create``: choose 2AFC trials from a results folder and write the study folder.

A study folder holds
- ``study.json``: the design, written once and never changed (read-only file): entries, trials,
  the image files with their sha256, crop boxes, the study seed, and each entry's stored bpp and
  metric values on the study's images (so analysis never needs the results folder again);
- ``images/<sha256[:16]>.png``: every picture a rater sees, as a lossless PNG (opaque names: a URL
  never tells which codec made a picture);
- ``responses.sqlite``: the answers (:mod:`rdpbench.study.storage`), created on first use.

An *entry* is ``CODEC_LABEL:SETTING`` exactly as in ``per_image.csv`` (``jpeg:quality=10``). A trial
shows the original and the reconstructions of two entries of one image; the question is which
reconstruction is closer to the original. Designs:

- ``round-robin`` (HiFiC): every pair of the given entries, on every chosen image.
- ``anchor-ladder`` (Agustsson et al., GC, Fig. 5): one test entry against every setting of an anchor
  codec, on every chosen image.
- ``matched-bitrate`` (Iwai et al.): per image, each setting of codec A against the setting of codec B
  whose bpp on that image is closest, kept when ``|bpp_A - bpp_B| <= max_bpp_diff`` (default 0.005).
  Settings of A without such a B, and images left out because none of their settings matched, are
  recorded in study.json (``unmatched``; see :func:`unmatched`) and listed by ``study analyze``.
- ``triplet`` (JPEG AIC-3 boosted triplet comparisons, Testolina et al. 2024; Men et al. 2021): the
  original in the middle, two reconstructions of it beside it, from the settings of ``codecs`` (one or
  more). Per image: every setting against the original itself (the reference anchors the JND scale at
  0), every pair of settings of one codec, and, for each pair of codecs, each setting of either against
  the setting of the other with the closest bpp on that image (cross-codec). A trial against the
  original has ``a = "original"`` and ``a_file`` the original's picture. The page can flicker each side
  between its reconstruction and the original (``flicker_hz`` full cycles per second, 0: off) and
  offers a "not sure" answer (``not_sure``); :mod:`rdpbench.study.jnd` reconstructs the scale.

Probe trials (GC: 3 per questionnaire) show the original against an obviously degraded JPEG of it
(Pillow, quality 5); a rater who ever prefers the JPEG fails. Pictures larger than the crop (default:
at most 512x512) are cut to the centred crop box, recorded per image as (left, top, right, bottom).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rdpbench import bounded_json, export
from rdpbench.bounded_json import JSONLimitError
from rdpbench.imageio import read_rgb8
from rdpbench.paths import recon_path
from rdpbench.safe_paths import UnsafePathError, inside
from rdpbench.columns import Column
from rdpbench.store import STORE_NAME, VERSION_1_COLUMNS, ResultsStore
from rdpbench.study import DESIGNS, schema

DESIGN_NAME = "study.json"
IMAGES_DIR = "images"
FORMAT = "rdpbench-study/1"
DEFAULT_CROP = (512, 512)
PROBE_QUALITY = 5
ORIGINAL = "original"
PROBE_ENTRY = f"probe:jpeg:quality={PROBE_QUALITY}"


class StudyError(ValueError):
    """A study cannot be created, loaded or served; the message says what to do."""


@dataclass(frozen=True)
class Request:
    """What ``study create`` was asked for (see the module docstring for the designs)."""
    design: str
    entries: list[str] = ()          # round-robin
    test: str | None = None          # anchor-ladder
    anchor: str | None = None        # anchor-ladder: a codec label
    codecs: list[str] = ()           # matched-bitrate: two codec labels
    max_bpp_diff: float = 0.005      # matched-bitrate
    images: int | None = None        # at most this many images (sorted by name)
    probes: int = 3
    seed: int | None = None
    crop: tuple[int, int] = DEFAULT_CROP
    flicker_hz: float = 5.0          # triplet: flicker cycles per second (each picture 1/(2 f) s); 0: off
    not_sure: bool = True            # triplet: offer the "not sure" answer


def parse_crop(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        crop = int(width), int(height)
    except ValueError:
        raise StudyError(f"--crop wants WIDTHxHEIGHT in pixels, e.g. 512x512, not {text!r}") from None
    if min(crop) < 16:
        raise StudyError("--crop must be at least 16x16 pixels")
    return crop


def split_entry(entry: str) -> tuple[str, str]:
    codec, colon, setting = entry.partition(":")
    if not colon or not codec or not setting:
        raise StudyError(f"entry {entry!r} is not CODEC_LABEL:SETTING as in per_image.csv, e.g. jpeg:quality=10")
    return codec, setting


def _crop_box(height: int, width: int, crop: tuple[int, int]) -> tuple[int, int, int, int]:
    """Centred (left, top, right, bottom) of at most ``crop`` = (width, height) pixels."""
    w, h = min(width, crop[0]), min(height, crop[1])
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_degraded(array: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=PROBE_QUALITY)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _pairs(request: Request, rows, images: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per image, the (entry_a, entry_b) pairs of the design."""
    settings = {}
    for codec, setting in zip(rows["codec"], rows["setting"]):
        settings.setdefault(codec, list())
        if setting not in settings[codec]:
            settings[codec].append(setting)
    known = [f"{c}:{s}" for c, names in settings.items() for s in names]

    def check(entry: str) -> str:
        codec, setting = split_entry(entry)
        if codec not in settings:
            raise StudyError(f"unknown codec {codec!r} in the design; codecs in the results: {', '.join(settings)}")
        if setting not in settings[codec]:
            raise StudyError(f"codec {codec!r} has no setting {setting!r}; it has: {', '.join(settings[codec])}")
        return entry

    if request.design == "round-robin":
        entries = [check(e) for e in dict.fromkeys(request.entries)]
        if len(entries) < 2:
            raise StudyError("round-robin needs at least two entries: --entries E1,E2[,...]"
                             f" (entries in the results: {', '.join(known[:6])}, ...)")
        return {image: list(itertools.combinations(entries, 2)) for image in images}
    if request.design == "anchor-ladder":
        if not request.test or not request.anchor:
            raise StudyError("anchor-ladder needs --test CODEC_LABEL:SETTING and --anchor CODEC_LABEL")
        test = check(request.test)
        if request.anchor not in settings:
            raise StudyError(f"unknown anchor codec {request.anchor!r}; codecs in the results: {', '.join(settings)}")
        ladder = [f"{request.anchor}:{s}" for s in settings[request.anchor] if f"{request.anchor}:{s}" != test]
        return {image: [(test, anchor) for anchor in ladder] for image in images}
    if request.design == "matched-bitrate":
        if len(request.codecs) != 2:
            raise StudyError("matched-bitrate needs two codec labels: --codecs A,B")
        for codec in request.codecs:
            if codec not in settings:
                raise StudyError(f"unknown codec {codec!r} in the design; codecs in the results: {', '.join(settings)}")
        return {image: [(a, b) for a, b, gap in matched_bitrate(request, rows, image) if gap <= request.max_bpp_diff]
                for image in images}
    if request.design == "triplet":
        return _triplet_pairs(request, rows, images, settings)
    raise StudyError(f"unknown design {request.design!r} (known: {', '.join(DESIGNS)})")


def matched_bitrate(request: Request, rows, image: str) -> list[tuple[str, str | None, float]]:
    """Per setting of codec A on ``image``: (A entry, the B entry with the closest bpp on that image or
    None without any, |Δbpp| or inf); a pair is kept when |Δbpp| <= ``request.max_bpp_diff``."""
    first, second = request.codecs
    here = rows[rows["image"] == image]
    a_rows, b_rows = here[here["codec"] == first], here[here["codec"] == second]
    found = []
    for a in a_rows.itertuples():
        if b_rows.empty:
            found.append((f"{first}:{a.setting}", None, math.inf))
            continue
        gaps = np.abs(b_rows["bpp"].to_numpy(float) - a.bpp)
        found.append((f"{first}:{a.setting}", f"{second}:{b_rows.iloc[int(np.argmin(gaps))]['setting']}",
                      float(gaps.min())))
    return found


def unmatched(request: Request, rows, images: list[str]) -> list[dict]:
    """Matched-bitrate: every setting of codec A on ``images`` without a setting of B within the
    tolerance, as {image, setting, nearest, bpp_diff (None without any B), image_dropped (no setting
    of A matched on that image, so the image is not in the study)}; recorded in study.json."""
    found = []
    for image in images:
        pairs = matched_bitrate(request, rows, image)
        dropped = all(gap > request.max_bpp_diff for _, _, gap in pairs)
        found += [{"image": image, "setting": a, "nearest": b, "bpp_diff": gap if math.isfinite(gap) else None,
                   "image_dropped": dropped} for a, b, gap in pairs if gap > request.max_bpp_diff]
    return found


def _triplet_pairs(request: Request, rows, images: list[str], settings: dict) -> dict[str, list[tuple[str, str]]]:
    """Per image, the (a, b) pairs of a triplet study (module docstring): each setting against the
    original, all same-codec pairs, and cross-codec pairs at the closest bpp on that image."""
    if not request.codecs:
        raise StudyError("triplet needs one or more codec labels: --codecs A[,B,...]")
    for codec in request.codecs:
        if codec not in settings:
            raise StudyError(f"unknown codec {codec!r} in the design; codecs in the results: {', '.join(settings)}")
    if not (request.flicker_hz == 0 or 0.5 <= request.flicker_hz <= 30):
        raise StudyError("--flicker-hz must be 0 (no flicker) or between 0.5 and 30 cycles per second")
    pairs = {}
    for image in images:
        here = rows[rows["image"] == image]
        chosen = []
        for codec in request.codecs:
            entries = [f"{codec}:{s}" for s in settings[codec] if len(here[(here["codec"] == codec)
                                                                           & (here["setting"] == s)])]
            chosen += [(ORIGINAL, entry) for entry in entries] + list(itertools.combinations(entries, 2))
        for first, second in itertools.permutations(request.codecs, 2):  # both ways: every setting gets one
            a_rows, b_rows = here[here["codec"] == first], here[here["codec"] == second]
            if b_rows.empty:
                continue
            for a in a_rows.itertuples():
                b = b_rows.iloc[int(np.argmin(np.abs(b_rows["bpp"].to_numpy(float) - a.bpp)))]
                pair = (f"{first}:{a.setting}", f"{second}:{b['setting']}")
                chosen.append(pair if request.codecs.index(first) < request.codecs.index(second) else pair[::-1])
        pairs[image] = list(dict.fromkeys(chosen))
    return pairs


def _missing_recon_error(store: ResultsStore, results: Path, missing: list[tuple[str, str, str]]) -> StudyError:
    codec = missing[0][0]
    row = store.query("SELECT r.command FROM runs r JOIN run_codecs c USING (run_id) WHERE c.codec = ? "
                      "ORDER BY r.run_id DESC LIMIT 1", (codec,))
    command = row[0][0] if row and row[0][0] else f"rdpbench run --out {results} --codec {codec} ..."
    if "--save-recon" not in command:
        command += " --save-recon"
    shown = ", ".join(f"{c}:{s} on {i}" for c, s, i in missing[:3]) + (" ..." if len(missing) > 3 else "")
    return StudyError(f"{len(missing)} reconstruction(s) are not saved in {results}/recon ({shown}); "
                      f"run `{command}` to add them")


def create(results: Path, out: Path, request: Request) -> dict:
    """Build the study folder ``out`` from ``results``; return the design written to study.json."""
    results, out = Path(results), Path(out)
    if not (results / STORE_NAME).is_file():
        raise StudyError(f"no {STORE_NAME} in {results}: make it with `rdpbench run --out {results} --save-recon ...`")
    if out.exists() and any(out.iterdir()):
        raise StudyError(f"{out} is not empty: a study is immutable once created; choose a new --out")
    if request.probes < 0:
        raise StudyError("--probes must be 0 or more")
    with ResultsStore(results) as store:
        rows = export.per_image(store)
        distribution = export.distribution(store)
        columns = store.metric_columns()
        dataset_root = Path(store.meta("dataset_root") or ".")
        rows = rows[(rows["error"] == "") & rows["bpp"].notna()]
        images = sorted(rows["image"].unique())
        pairs = _pairs(request, rows, images)
        needed = {image: sorted({e for pair in pairs[image] for e in pair} - {ORIGINAL}) for image in images}
        complete = [image for image in images if pairs[image] and all(
            len(rows[(rows["codec"] == split_entry(e)[0]) & (rows["setting"] == split_entry(e)[1])
                     & (rows["image"] == image)]) for e in needed[image])]
        if request.images is not None:
            complete = complete[:request.images]
        if not complete:
            raise StudyError("the design gives no trials on these results (empty study): check the entries"
                             + (f" or widen --max-bpp-diff (now {request.max_bpp_diff})"
                                if request.design == "matched-bitrate" else ""))
        missing = [(*split_entry(e), image) for image in complete for e in needed[image]
                   if not recon_path(results, *split_entry(e), image).is_file()]
        if missing:
            raise _missing_recon_error(store, results, missing)
        considered = images if request.images is None else [image for image in images if image <= complete[-1]]
        not_matched = unmatched(request, rows, considered) if request.design == "matched-bitrate" else []
    seed = request.seed if request.seed is not None else secrets.randbits(32)
    out.mkdir(parents=True, exist_ok=True)
    (out / IMAGES_DIR).mkdir()
    files: dict[str, str] = {}

    def store_png(array: np.ndarray) -> str:
        data = _png_bytes(array)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest[:16]}.png"
        if name not in files:
            (out / IMAGES_DIR / name).write_bytes(data)
            files[name] = digest
        return name

    metric_columns = [c for c in rows.columns if c not in export.ROW_COLUMNS and c != "error"]
    trials, originals, crops, values = [], {}, {}, {}
    for image in complete:
        original = read_rgb8(dataset_root / image)
        box = _crop_box(*original.shape[:2], request.crop)
        crops[image] = list(box)
        cut = original[box[1]:box[3], box[0]:box[2]]
        originals[image] = store_png(cut)
        recon_files = {}
        for entry in needed[image]:
            codec, setting = split_entry(entry)
            reconstruction = read_rgb8(recon_path(results, codec, setting, image))
            recon_files[entry] = store_png(reconstruction[box[1]:box[3], box[0]:box[2]])
            row = rows[(rows["codec"] == codec) & (rows["setting"] == setting) & (rows["image"] == image)].iloc[0]
            values.setdefault(entry, {})[image] = {column: _number(row[column]) for column in ["bpp", *metric_columns]}
        recon_files[ORIGINAL] = originals[image]  # triplet trials against the original itself
        for a, b in pairs[image]:
            trials.append({"id": f"t{len(trials) + 1:04d}", "image": image, "a": a, "b": b, "is_probe": False,
                           "original": originals[image], "a_file": recon_files[a], "b_file": recon_files[b]})
    for index in range(request.probes):
        image = complete[index % len(complete)]
        left, top, right, bottom = crops[image]
        degraded = _jpeg_degraded(read_rgb8(dataset_root / image)[top:bottom, left:right])
        trials.append({"id": f"p{index + 1:02d}", "image": image, "a": ORIGINAL, "b": PROBE_ENTRY, "is_probe": True,
                       "original": originals[image], "a_file": originals[image], "b_file": store_png(degraded)})
    entries = list(dict.fromkeys(e for t in trials if not t["is_probe"] for e in (t["a"], t["b"]) if e != ORIGINAL))
    per_entry = {}
    for entry in entries:
        codec, setting = split_entry(entry)
        match = distribution[(distribution["codec"] == codec) & (distribution["setting"] == setting)] \
            if len(distribution) else distribution
        per_entry[entry] = {c: _number(match.iloc[0][c]) for c, info in columns.items()
                            if info.kind == "distribution" and info.is_quality and len(match) and c in match}
    design = {
        "format": FORMAT, "study_id": secrets.token_hex(8), "secret": secrets.token_hex(16),
        "design": request.design, "seed": seed, "results": str(results.resolve()),
        "request": {"entries": list(request.entries), "test": request.test, "anchor": request.anchor,
                    "codecs": list(request.codecs), "max_bpp_diff": request.max_bpp_diff,
                    "images": request.images, "probes": request.probes, "crop": list(request.crop),
                    **({"flicker_hz": request.flicker_hz, "not_sure": request.not_sure}
                       if request.design == "triplet" else {})},
        "entries": entries, "images": complete, "crop_boxes": crops, "files": files,
        "values": values, "distribution": per_entry, "trials": trials, "unmatched": not_matched,
        "columns": {name: dataclasses.asdict(info) for name, info in columns.items()},
        "probe": f"original against Pillow JPEG quality {PROBE_QUALITY} of the same crop",
    }
    path = out / DESIGN_NAME
    path.write_text(json.dumps(design, indent=1))
    for written in [path, *(out / IMAGES_DIR).iterdir()]:
        os.chmod(written, 0o444)
    return design


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def load(folder: Path) -> dict:
    """The design of a study folder (``study.json``), checked against :mod:`rdpbench.study.schema`:
    a study folder may come from someone else."""
    path = Path(folder) / DESIGN_NAME
    if not path.is_file():
        raise StudyError(f"no {DESIGN_NAME} in {folder}: create the study with `rdpbench study create RESULTS --out {folder} ...`")
    damaged = f"{path} is damaged or not an rdpbench study ({FORMAT})"
    try:
        if path.stat().st_size > schema.MAX_BYTES:
            raise JSONLimitError(f"it is over {schema.MAX_BYTES >> 20} MiB")
        design = bounded_json.loads(path.read_bytes(), schema.MAX_BYTES, schema.MAX_DEPTH, "it")
        if not isinstance(design, dict) or design.get("format") != FORMAT:
            raise JSONLimitError(f"no \"format\": \"{FORMAT}\"")
        if "columns" not in design:  # created before studies recorded metric metadata: version 1's metrics
            design["columns"] = {c.name: dataclasses.asdict(c) for c in VERSION_1_COLUMNS}
        schema.check(design)
    except (JSONLimitError, schema.SchemaError) as error:
        raise StudyError(f"{damaged}: {error}; get an intact copy of the study folder, or create it again "
                         "with `rdpbench study create`") from None
    except OSError as error:
        raise StudyError(f"cannot read {path} ({error.strerror})") from None
    return design


def metric_columns(design: dict) -> dict[str, Column]:
    """The metadata of the study's metric columns (label, unit, direction, kind), as its results recorded it."""
    return {name: Column(**fields) for name, fields in design["columns"].items()}


def picture(folder: Path, name: str) -> Path:
    """``folder/images/name`` for a picture name read from study.json, through the path rule
    (:func:`rdpbench.safe_paths.inside`); ``folder`` may be a study or an output folder."""
    try:
        return inside(Path(folder) / IMAGES_DIR, name, "study picture name")
    except UnsafePathError as error:
        raise StudyError(str(error)) from None


def verify_images(folder: Path, design: dict) -> None:
    """Raise StudyError naming the first picture whose bytes no longer match the recorded sha256."""
    for name, digest in design["files"].items():
        path = picture(folder, name)
        if not path.is_file():
            raise StudyError(f"study image {path} is missing; the study cannot be served (recreate it)")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise StudyError(f"study image {path} was modified (sha256 differs from study.json); "
                             "refusing to serve a tampered study (recreate it with `rdpbench study create`)")
