"""What a report is drawn from: the store's summary and per-image rows, the metric metadata the runs
recorded (label, unit, direction, decimals, kind, group: rdpbench.columns.Column, read with
:meth:`ResultsStore.metric_columns`, so a plug-in metric is reported like a built-in one), imported
curves, and the caveats every figure, table and page repeats (:func:`caveats`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rdpbench import bounded_json, export
from rdpbench.columns import Column
from rdpbench.store import STORE_NAME, ResultsStore

MAX_IMPORT_BYTES = 64 << 20  # an --import file (CompressAI results: a few KB)
DECIMALS = {"bpp": 4, "bd_rate_percent": 2}  # columns that are not metrics; metrics declare their own


class ReportError(ValueError):
    """The results folder cannot be reported on; the message says why and what to do."""


@dataclass
class Context:
    """What limits the meaning of every number in the report (see :func:`caveats`)."""
    dataset: str = "?"
    n_images: int = 0
    unverified_weights: list[str] = field(default_factory=list)  # file names used without a hash match
    n_patches: tuple[int, int] | None = None   # (min, max) patch count of the distribution metrics' values
    small_sample: bool = False                 # some value had fewer patches than its features' dimension
    patch_protocol: str = ""


@dataclass
class ReportData:
    summary: pd.DataFrame        # one row per codec x setting (imported curves included, setting "imported #i")
    per_image: pd.DataFrame      # one row per codec x setting x image (store codecs only)
    originals: pd.DataFrame      # no-reference metrics of the originals, one row per image
    metrics: list[str]           # quality columns present (those with a direction), in the store's order
    columns: dict[str, Column]   # metadata of every metric column recorded in the store
    imported: set[str]           # codec labels that come from --import files
    results: Path
    context: Context = field(default_factory=Context)

    def decimals(self, column: str) -> int:
        """Digits after the point for ``column``: as its metric declared, 4 when unknown."""
        return self.columns[column].decimals if column in self.columns else DECIMALS.get(column, 4)

    def distribution_metrics(self) -> list[str]:
        return [m for m in self.metrics if self.columns[m].kind == "distribution"]

    def codecs(self) -> list[str]:
        return list(dict.fromkeys(self.summary["codec"]))

    def check_codec(self, codec: str, flag: str = "--anchor") -> None:
        """Raise a one-line ReportError, with a did-you-mean, if ``codec`` has no rows here."""
        codecs = self.codecs()
        if codec not in codecs:
            close = difflib.get_close_matches(codec, codecs, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ReportError(f"{flag} {codec!r} is not a codec of {self.results}: {hint}"
                              f"choose one of {', '.join(codecs)}")

    def curve(self, codec: str, metric: str) -> pd.DataFrame:
        """(bpp, metric, setting) of one codec, NaNs dropped, sorted by bpp."""
        rows = self.summary[(self.summary["codec"] == codec)][["bpp", metric, "setting"]].dropna()
        return rows.sort_values("bpp").reset_index(drop=True)


def import_compressai_json(path: Path) -> pd.DataFrame:
    """A CompressAI results file as summary rows labelled "<name> (imported)". Its keys become our
    columns: CompressAI's own names through rdpbench.export.COMPRESSAI_KEYS (``psnr-rgb`` -> ``psnr``,
    taken first), any other key with hyphens as underscores (``ms-ssim`` -> ``ms_ssim``, ``lpips``);
    the report shows those the results folder has metric metadata for."""
    try:
        document = bounded_json.loads(Path(path).read_bytes(), MAX_IMPORT_BYTES, 8, "it")
    except (bounded_json.JSONLimitError, OSError) as error:
        raise ReportError(f"--import {path}: {getattr(error, 'strerror', None) or error}; give a CompressAI results "
                          "JSON file ({\"name\", \"results\": {\"bpp\": [...], ...}})") from None
    results = document.get("results", document) if isinstance(document, dict) else None
    if not isinstance(results, dict) or not isinstance(results.get("bpp"), list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in results["bpp"]):
        raise ReportError(f"--import {path}: not a CompressAI results file: it needs a 'results' object with a "
                          "'bpp' list of numbers (as compressai.utils.eval_model writes)")
    frame = pd.DataFrame({"bpp": results["bpp"]})
    ours = {theirs: column for column, theirs in export.COMPRESSAI_KEYS.items()}
    for key in sorted(results, key=lambda key: key not in ours):
        column = ours.get(key, key.replace("-", "_"))
        if column not in frame and isinstance(results[key], list) and len(results[key]) == len(frame) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in results[key]):
            frame[column] = results[key]
    frame.insert(0, "codec", f"{document.get('name', Path(path).stem)} (imported)")
    frame.insert(1, "setting", [f"imported #{i + 1}" for i in range(len(frame))])
    return frame


def _unverified_weights(store: ResultsStore) -> list[str]:
    """Weight files any run into this folder used without a hash match (runs.versions -> weights)."""
    names = []
    for (versions,) in store.query("SELECT versions FROM runs"):
        try:
            weights = json.loads(versions or "{}").get("weights", {})
        except json.JSONDecodeError:
            continue
        names += [name for name, entry in weights.items() if not entry.get("verified", False)]
    return sorted(set(names))


def _context(store: ResultsStore, summary: pd.DataFrame) -> Context:
    patches = None
    if "n_patches" in summary.columns and summary["n_patches"].notna().any():
        counts = summary["n_patches"].dropna().astype(int)
        patches = (int(counts.min()), int(counts.max()))
    protocols = summary["patch_protocol"].dropna().unique() if "patch_protocol" in summary.columns else []
    notes = summary["distribution_note"].dropna() if "distribution_note" in summary.columns else []
    return Context(dataset=store.meta("dataset_name") or "?", n_images=store.query("SELECT COUNT(*) FROM images")[0][0],
                   unverified_weights=_unverified_weights(store), n_patches=patches,
                   small_sample=any("small sample" in str(note) for note in notes),
                   patch_protocol="; ".join(map(str, protocols)))


def caveats(data: ReportData) -> list[tuple[str, bool]]:
    """The lines every figure, table and page carries, as (text, prominent): dataset and image count,
    the distribution metrics' patch count (with the small-sample warning when a value had fewer
    patches than its features' dimension, as its note says), unverified weights."""
    context, lines = data.context, []
    lines.append((f"{context.dataset}, {context.n_images} images", False))
    distribution = "/".join(data.columns[m].label for m in data.distribution_metrics())
    if context.n_patches and distribution:
        low, high = context.n_patches
        count = f"{low}" if low == high else f"{low}-{high}"
        small = (f" — SMALL SAMPLE (fewer patches than feature dimensions): compare {distribution} only at equal "
                 "patch count" if context.small_sample else "")
        lines.append((f"{distribution} on {count} patches{small}", context.small_sample))
    if context.unverified_weights:
        lines.append((f"UNVERIFIED WEIGHTS ({', '.join(context.unverified_weights)}): "
                      "not comparable with published values", True))
    return lines


def load(results: Path, imports: list[Path] = (), metrics: list[str] | None = None) -> ReportData:
    """Read the store; raise ReportError (one line, what to do) when there is nothing to report."""
    if not (Path(results) / STORE_NAME).is_file():
        raise ReportError(f"no {STORE_NAME} in {results}: run `rdpbench run --out {results}` first")
    with ResultsStore(results, read_only=True) as store:  # a report never changes the results
        per_image = export.per_image(store)
        if not (per_image["error"] == "").any():
            raise ReportError(f"{results} has no successful rows ({len(per_image)} error rows): see the error column "
                              f"of {Path(results) / 'per_image.csv'}, fix the cause and rerun with --retry-errors")
        summary = export.summary(per_image)
        distribution = export.distribution(store)
        if len(distribution):
            summary = summary.merge(distribution, on=["codec", "setting"], how="left")
        originals = export.originals(store)
        context = _context(store, summary)
        columns = store.metric_columns()
    imported = [import_compressai_json(path) for path in imports]
    labels = {frame["codec"].iloc[0] for frame in imported}
    summary = pd.concat([summary, *imported], ignore_index=True)
    present = [m for m, column in columns.items() if column.is_quality and m in summary.columns
               and summary[m].notna().any()]
    if not present:
        raise ReportError(f"{results} has no metric values: rerun with --metrics psnr,ms_ssim (or others)")
    if metrics:
        metrics = [m.strip().lower().replace("-", "_") for m in metrics]  # as `rdpbench run --metrics` spells them
        unknown = [m for m in metrics if m not in present]
        if unknown:
            close = difflib.get_close_matches(unknown[0], present, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ReportError(f"no values for {', '.join(unknown)} in {results}: {hint}choose from {', '.join(present)}")
        present = [m for m in present if m in metrics]
    return ReportData(summary, per_image, originals, present, columns, labels, Path(results), context)
