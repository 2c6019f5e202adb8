"""Views of the store, rewritten after every run: per_image.csv, summary.csv and one JSON file per
codec in CompressAI's results format (``compressai/<codec>.json``), so its plot script reads ours.

Summary conventions: one row per (codec, setting); ``n_images`` rows, ``n_failed`` of them with an
error; ``bpp`` and every per-image metric are the mean over the images where the value exists (a
failed image has no bpp; MS-SSIM is undefined for images under 161 px; an interrupted run may have
computed a metric on some images only; a requested metric that no image has keeps its column, empty,
with a count of 0), and ``n_<column>`` (:func:`count_column`) says over how many
images each mean is. PSNR is averaged per image (README, "Conventions"). Distribution metrics (FID,
KID, ...) follow with ``n_<column>`` = the patches that value was computed on, ``n_patches`` (the
fewest of them), ``n_feature_images`` (the images those patches came from), ``patch_protocol`` and
a small-sample note. ``originals.csv`` holds no-reference metrics (NIQE) of the
original images. Metric columns are in the order the store's metadata gives
(:meth:`ResultsStore.metric_columns`: built-in metrics first, in their registry order); columns
without metadata (``matched_quality`` of ``--match-bpp``) follow, by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.safe_paths import file_stem
from rdpbench.store import ResultsStore

ROW_COLUMNS = ["codec", "setting", "image", "width", "height", "bytes", "bpp", "encode_s", "decode_s"]
INTEGER_COLUMNS = ["width", "height", "bytes"]  # written as integers (empty where an error row has none)
# CompressAI's key names for the columns it knows; other metrics keep their column name.
COMPRESSAI_KEYS = {"psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb", "encode_s": "encoding_time",
                   "decode_s": "decoding_time"}


def _setting_sort_key(setting: str) -> tuple:
    """Order settings by their knob values, numerically where they are numbers."""
    parts = []
    for pair in setting.split(","):
        _, _, value = pair.partition("=")
        try:
            parts.append((0, float(value), ""))
        except ValueError:
            parts.append((1, 0.0, value))
    return tuple(parts)


def per_image(store: ResultsStore) -> pd.DataFrame:
    """One row per (codec, setting, image): the row columns, one column per metric, then ``error``."""
    rows = pd.DataFrame(store.query(f"SELECT {', '.join(ROW_COLUMNS)}, error FROM rows"), columns=ROW_COLUMNS + ["error"])
    values = pd.DataFrame(store.query("SELECT codec, setting, image, metric, value FROM metric_values"),
                          columns=["codec", "setting", "image", "metric", "value"])
    declared = [name for name, column in store.metric_columns().items() if column.kind != "distribution"]
    metric_names = _ordered(store, set(values["metric"].unique()) | set(declared))
    if len(values):
        wide = values.pivot_table(index=["codec", "setting", "image"], columns="metric", values="value",
                                  aggfunc="first", dropna=False).reset_index()
        rows = rows.merge(wide, on=["codec", "setting", "image"], how="left")
    rows = rows.reindex(columns=ROW_COLUMNS + metric_names + ["error"])
    for column in ["bpp", "encode_s", "decode_s", *metric_names]:
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype(float)
    rows["error"] = rows["error"].fillna("")
    order = sorted(range(len(rows)), key=lambda i: (rows.at[i, "codec"], _setting_sort_key(rows.at[i, "setting"]),
                                                    rows.at[i, "image"]))
    return rows.iloc[order].reset_index(drop=True)


def _ordered(store: ResultsStore, names) -> list[str]:
    """``names`` in the store's metric order, those without metadata after them by name."""
    order = list(store.metric_columns())
    return sorted(names, key=lambda name: (order.index(name), "") if name in order else (len(order), name))


def count_column(column: str) -> str:
    """The column holding how many values (images; patches for a distribution metric) the summary
    value of ``column`` is over: ``n_psnr`` for ``psnr``."""
    return f"n_{column}"


def is_count_column(name: str, columns) -> bool:
    """Whether ``name`` is the count column of one of ``columns``."""
    return any(name == count_column(column) for column in columns)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Means per (codec, setting), each with its count; see the module docstring for the conventions."""
    metric_names = [c for c in rows.columns if c not in ROW_COLUMNS and c != "error"]
    averaged = ["bpp", *metric_names]
    records = []
    for (codec, setting), group in rows.groupby(["codec", "setting"], sort=False):
        record = {"codec": codec, "setting": setting, "n_images": len(group),
                  "n_failed": int((group["error"] != "").sum())}
        for column in [*averaged, "encode_s", "decode_s"]:
            values = group[column].to_numpy(dtype=float)
            finite_or_inf = values[~np.isnan(values)]
            record[column] = float(finite_or_inf.mean()) if len(finite_or_inf) else float("nan")
            if column in averaged:
                record[count_column(column)] = len(finite_or_inf)
        records.append(record)
    columns = ["codec", "setting", "n_images", "n_failed", "bpp", *metric_names, "encode_s", "decode_s",
               *map(count_column, averaged)]
    return pd.DataFrame.from_records(records, columns=columns)


def distribution(store: ResultsStore) -> pd.DataFrame:
    """Distribution metrics per (codec, setting): one column per value and its patch count
    (``n_<column>``), plus ``n_patches`` (the fewest any of them was computed on: metrics on other
    patch sizes see other counts), ``n_feature_images`` (the fewest images those patches came from),
    ``patch_protocol`` (each extractor, patch size and shift used) and ``distribution_note`` (every
    distinct note, e.g. the small-sample warning, which names the count and the feature dimension)."""
    values = pd.DataFrame(store.query("SELECT codec, setting, column_name, value, n_patches, n_images, spec, note "
                                      "FROM distribution_values"),
                          columns=["codec", "setting", "column", "value", "n_patches", "n_images", "patch_protocol",
                                   "note"])
    declared = [name for name, column in store.metric_columns().items() if column.kind == "distribution"]
    if values.empty:
        return pd.DataFrame(columns=["codec", "setting", *declared, *map(count_column, declared)])
    wide = values.pivot_table(index=["codec", "setting"], columns="column", values="value", aggfunc="first",
                              dropna=False)
    columns = _ordered(store, set(wide.columns) | set(declared))
    wide = wide.reindex(columns=columns)
    counts = values.pivot_table(index=["codec", "setting"], columns="column", values="n_patches", aggfunc="first")
    counts = counts.reindex(columns=columns).rename(columns=count_column)
    extra = values.groupby(["codec", "setting"]).agg(
        n_patches=("n_patches", "min"), n_feature_images=("n_images", "min"),
        patch_protocol=("patch_protocol", lambda keys: "; ".join(sorted(set(keys)))),
        distribution_note=("note", lambda notes: " | ".join(dict.fromkeys(n for n in notes if isinstance(n, str) and n))))
    return wide[columns].join(extra).join(counts).reset_index()


def originals(store: ResultsStore) -> pd.DataFrame:
    """No-reference metrics of the original images, one row per image."""
    values = pd.DataFrame(store.query("SELECT image, metric, value FROM original_values"),
                          columns=["image", "metric", "value"])
    if values.empty:
        return values
    return values.pivot_table(index="image", columns="metric", values="value", aggfunc="first",
                              dropna=False).reset_index()


def compressai_json(table: pd.DataFrame, codec: str, description: str) -> dict:
    """CompressAI's format: ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...]}}``
    with one entry per setting in the order of ``settings`` (added beside ``results``)."""
    rows = table[table["codec"] == codec]
    counts = {"n_images", "n_failed", "n_patches", "n_feature_images"} | {c for c in rows.columns
                                                                          if is_count_column(c, rows.columns)}
    numeric = [c for c in rows.columns if c not in ("codec", "setting", *counts)
               and pd.api.types.is_numeric_dtype(rows[c])]
    results = {COMPRESSAI_KEYS.get(c, c): [None if np.isnan(v) else v for v in rows[c].astype(float)]
               for c in numeric}
    return {"name": codec, "description": description, "settings": list(rows["setting"]), "results": results}


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def views(store: ResultsStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What per_image.csv and summary.csv hold (the summary with the distribution metrics); the
    integer columns of per_image are integers, missing (``<NA>``) on error rows that have none."""
    rows = per_image(store)
    table = summary(rows)
    extra = distribution(store)
    if len(extra.columns) > 2:
        table = table.merge(extra, on=["codec", "setting"], how="left")
        counts = [column for column in extra.columns if column.startswith("n_")]
        table[counts] = table[counts].fillna(0).astype(int)
    return rows.astype({column: "Int64" for column in INTEGER_COLUMNS}), table


def write_all(store: ResultsStore) -> list[str]:
    """Write every view into the store's folder; return the names written."""
    out = store.folder
    rows, table = views(store)
    _atomic_write(out / "per_image.csv", rows.to_csv(index=False))
    _atomic_write(out / "summary.csv", table.to_csv(index=False))
    written = ["per_image.csv", "summary.csv"]
    reference = originals(store)
    if len(reference):
        _atomic_write(out / "originals.csv", reference.to_csv(index=False))
        written.append("originals.csv")
    folder = out / "compressai"
    folder.mkdir(exist_ok=True)
    descriptions = dict(store.query(
        "SELECT codec, description || ' (' || version || ')' FROM run_codecs ORDER BY run_id"))
    for codec in table["codec"].unique():
        document = compressai_json(table, codec, descriptions.get(codec, ""))
        _atomic_write(folder / f"{file_stem(codec)}.json", json.dumps(document, indent=2))
    return written + ["compressai/*.json"]
