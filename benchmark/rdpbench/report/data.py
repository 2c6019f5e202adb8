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

import numpy as np
import pandas as pd

from rdpbench import bounded_json, export
from rdpbench.columns import Column
from rdpbench.store import STORE_NAME, WEIGHT_STATES, ResultsStore

MAX_IMPORT_BYTES = 64 << 20  # an --import file (CompressAI results: a few KB)
DECIMALS = {"bpp": 4, "bd_rate_percent": 2}  # columns that are not metrics; metrics declare their own


class ReportError(ValueError):
    """The results folder cannot be reported on; the message says why and what to do."""


@dataclass
class Context:
    """What limits the meaning of every number in the report (see :func:`caveats`)."""
    dataset: str = "?"
    n_images: int = 0
    weights: dict[str, str] = field(default_factory=dict)  # {weight file: rdpbench.store.WEIGHT_STATES key}
    n_patches: tuple[int, int] | None = None   # (min, max) patch count of the distribution metrics' values
    small_sample: bool = False                 # some value had fewer patches than its features' dimension
    patch_protocol: str = ""
    distribution_intervals: str = ""           # how the distribution metrics' intervals were made, or why not


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
    views: dict[str, str] = field(default_factory=dict)  # {view column: the column it transforms} (see VIEWS)

    def source(self, column: str) -> tuple[str, object]:
        """(the per-image column whose mean ``column`` is computed from, the function applied to that
        mean: identity for a plain column, VIEWS' transform for a view such as ms_ssim_db)."""
        if column in self.views:
            return self.views[column], VIEWS[column][1]
        return column, lambda mean: mean

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

    def curve(self, codec: str, metric: str, images: list[str] | None = None) -> pd.DataFrame:
        """(bpp, metric, setting) of one codec, NaNs dropped, sorted by bpp: the summary means, or with
        ``images`` the means over exactly those images (every setting of the curve has them: see
        :meth:`images_with`)."""
        if images is None:
            rows = self.summary[(self.summary["codec"] == codec)][["bpp", metric, "setting"]].dropna()
            return rows.sort_values("bpp").reset_index(drop=True)
        rows = self.per_image[(self.per_image["codec"] == codec) & self.per_image["image"].isin(images)
                              & (self.per_image["error"] == "")]
        settings = set(self.curve(codec, metric)["setting"])
        column, transform = self.source(metric)
        rows = rows[rows["setting"].isin(settings)].dropna(subset=["bpp", column])
        means = rows.groupby("setting", sort=False).agg(bpp=("bpp", "mean"), value=(column, "mean"),
                                                        n=("image", "nunique"))
        means = means[means["n"] == len(set(images))].reset_index()
        means[metric] = transform(means["value"].to_numpy(float))
        return means[["bpp", metric, "setting"]].sort_values("bpp").reset_index(drop=True)

    def images_with(self, codec: str, metric: str) -> set[str] | None:
        """The images on which every setting of the codec's curve has the metric and a bpp; None for
        a distribution metric, an imported curve, or data without per-image rows (summary values only)."""
        if codec in self.imported or not self.columns[metric].per_image or self.per_image.empty:
            return None
        settings = set(self.curve(codec, metric)["setting"])
        rows = self.per_image[(self.per_image["codec"] == codec) & self.per_image["setting"].isin(settings)
                              & (self.per_image["error"] == "")].dropna(subset=["bpp", metric])
        per_setting = [set(group["image"]) for _, group in rows.groupby("setting")]
        return set.intersection(*per_setting) if per_setting else set()

    def common_images(self, codecs: list[str], metric: str) -> list[str] | None:
        """The images every one of ``codecs`` has at every setting of its curve (sorted), for
        comparisons on equal images; None when one of them has no per-image values."""
        sets = [self.images_with(codec, metric) for codec in codecs]
        if any(images is None for images in sets):
            return None
        return sorted(set.intersection(*sets)) if sets else []

    def full_coverage(self, images: list[str] | None) -> bool:
        """Whether ``images`` are all the folder's images (or None: the summary means are used)."""
        return images is None or len(images) >= self.context.n_images


def ms_ssim_db(values):
    """-10 log10(1 - MS-SSIM): MS-SSIM in dB, as CompressAI's plots and most papers show it (inf at 1)."""
    with np.errstate(divide="ignore"):
        return -10 * np.log10(1 - np.asarray(values, float))


# Views: a column computed from another's mean (never stored): {view: (source column, transform, metadata)}.
# As in CompressAI's plots, the transform applies to the mean over images (per-image comparisons
# transform each image's value, which orders images the same way).
VIEWS = {"ms_ssim_db": ("ms_ssim", ms_ssim_db, dict(label="MS-SSIM", unit="dB", higher_is_better=True, decimals=2))}


def _add_views(summary: pd.DataFrame, per_image: pd.DataFrame, columns: dict[str, Column]) -> dict[str, str]:
    """Add every view whose source column has values, right after its source in the metric order."""
    added = {}
    for view, (source, transform, shown) in VIEWS.items():
        if source not in columns or source not in summary.columns or view in columns:
            continue
        summary[view] = transform(summary[source])
        if export.count_column(source) in summary.columns:
            summary[export.count_column(view)] = summary[export.count_column(source)]
        if source in per_image.columns:
            per_image[view] = transform(per_image[source])
        base = columns[source]
        items = list(columns.items())
        position = [name for name, _ in items].index(source) + 1
        items.insert(position, (view, Column(view, metric=base.metric, kind=base.kind, group=base.group, **shown)))
        columns.clear()
        columns.update(items)
        added[view] = source
    return added


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


def _context(store: ResultsStore, summary: pd.DataFrame) -> Context:
    patches = None
    if "n_patches" in summary.columns and summary["n_patches"].notna().any():
        counts = summary["n_patches"].dropna().astype(int)
        patches = (int(counts.min()), int(counts.max()))
    protocols = summary["patch_protocol"].dropna().unique() if "patch_protocol" in summary.columns else []
    notes = summary["distribution_note"].dropna() if "distribution_note" in summary.columns else []
    return Context(dataset=store.meta("dataset_name") or "?", n_images=store.query("SELECT COUNT(*) FROM images")[0][0],
                   weights=store.weight_states(), n_patches=patches,
                   small_sample=any("small sample" in str(note) for note in notes),
                   patch_protocol="; ".join(map(str, protocols)))


def caveats(data: ReportData) -> list[tuple[str, bool]]:
    """The lines every figure, table and page carries, as (text, prominent): dataset and image count,
    the distribution metrics' patch count (with the small-sample warning when a value had fewer
    patches than its features' dimension, as its note says), partial coverage, and the weight
    files' states (:func:`weight_lines`)."""
    context, lines = data.context, []
    lines.append((f"{context.dataset}, {context.n_images} images", False))
    distribution = "/".join(data.columns[m].label for m in data.distribution_metrics())
    if context.n_patches and distribution:
        low, high = context.n_patches
        count = f"{low}" if low == high else f"{low}-{high}"
        small = (f" — SMALL SAMPLE (fewer patches than feature dimensions): compare {distribution} only at equal "
                 "patch count" if context.small_sample else "")
        lines.append((f"{distribution} on {count} patches{small}", context.small_sample))
        if context.distribution_intervals:
            lines.append((f"{distribution} intervals [in brackets]: {context.distribution_intervals}", False))
    lines += [(line, False) for line in coverage(data)]
    lines += weight_lines(context.weights)
    return lines


def weight_lines(states: dict[str, str]) -> list[tuple[str, bool]]:
    """The weight files' states as caveat lines, each file named once: a footnote for verified,
    prefix-checked and unpublished-hash files, and a prominent (red) line for files used with
    --allow-unverified-weights despite a hash that did not match."""
    by_state: dict[str, list[str]] = {}
    for name, state in states.items():
        by_state.setdefault(state, []).append(name)
    parts = []
    if by_state.get("verified"):
        parts.append(f"{len(by_state['verified'])} verified (full sha256)")
    if by_state.get("prefix-checked"):
        parts.append(f"prefix-checked, {WEIGHT_STATES['prefix-checked']}: {', '.join(by_state['prefix-checked'])}")
    if by_state.get("unpublished"):
        parts.append(f"unpublished hash ({WEIGHT_STATES['unpublished']}): {', '.join(by_state['unpublished'])}")
    lines = [(f"Weights: {'; '.join(parts)}", False)] if parts else []
    if by_state.get("unverified"):
        lines.append((f"UNVERIFIED WEIGHTS ({', '.join(by_state['unverified'])}): {WEIGHT_STATES['unverified']}; "
                      "not comparable with published values", True))
    return lines


def coverage(data: ReportData) -> list[str]:
    """One line per metric that some codec has on fewer than the folder's images (an interrupted run,
    MS-SSIM's NaN on images under 161 px, failed rows), naming each codec's range of image counts:
    tables mark such values with their n, and comparisons use the images both codecs have."""
    total, lines = data.context.n_images, []
    for metric in data.metrics:
        if metric in data.views:  # its source's line says it
            continue
        column = export.count_column(metric) if data.columns[metric].per_image else "n_feature_images"
        if column not in data.summary.columns:
            continue
        short = []
        for codec, group in data.summary[data.summary[metric].notna()].groupby("codec", sort=False):
            counts = group[column].dropna().astype(int)
            if codec in data.imported or counts.empty or counts.min() >= total:
                continue
            low, high = counts.min(), counts.max()
            short.append(f"{codec} {low if low == high else f'{low}–{high}'}")
        if short:
            lines.append(f"PARTIAL COVERAGE: {data.columns[metric].label} on fewer than the {total} images "
                         f"({'; '.join(short)} images); such values are marked (n=…), and comparisons use the "
                         "images both codecs have")
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
    views = _add_views(summary, per_image, columns)
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
    return ReportData(summary, per_image, originals, present, columns, labels, Path(results), context, views)
