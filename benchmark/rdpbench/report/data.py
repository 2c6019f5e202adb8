"""What a report is drawn from: the store's summary and per-image rows, plus imported curves.

Metric metadata (label, unit, better direction) lives here so every figure and table agrees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rdpbench import export
from rdpbench.store import STORE_NAME, ResultsStore


@dataclass(frozen=True)
class MetricInfo:
    label: str
    higher_is_better: bool
    per_image: bool  # bootstrap bands need per-image values


METRICS = {
    "psnr": MetricInfo("PSNR [dB]", True, True),
    "ms_ssim": MetricInfo("MS-SSIM", True, True),
    "lpips": MetricInfo("LPIPS", False, True),
    "dists": MetricInfo("DISTS", False, True),
    "niqe": MetricInfo("NIQE", False, True),
    "fid": MetricInfo("FID", False, False),
    "kid": MetricInfo("KID", False, False),
}
# CompressAI's result keys -> our columns (both its old and new spellings)
IMPORT_KEYS = {"psnr-rgb": "psnr", "psnr": "psnr", "ms-ssim-rgb": "ms_ssim", "ms-ssim": "ms_ssim", "ms_ssim": "ms_ssim",
               "lpips": "lpips", "dists": "dists", "niqe": "niqe", "fid": "fid", "kid": "kid"}


class ReportError(ValueError):
    """The results folder cannot be reported on; the message says why."""


@dataclass
class ReportData:
    summary: pd.DataFrame        # one row per codec x setting (imported curves included, setting "imported #i")
    per_image: pd.DataFrame      # one row per codec x setting x image (store codecs only)
    originals: pd.DataFrame      # no-reference metrics of the originals, one row per image
    metrics: list[str]           # metric columns present, in METRICS order
    imported: set[str]           # codec labels that come from --import files
    results: Path

    def codecs(self) -> list[str]:
        return list(dict.fromkeys(self.summary["codec"]))

    def curve(self, codec: str, metric: str) -> pd.DataFrame:
        """(bpp, metric, setting) of one codec, NaNs dropped, sorted by bpp."""
        rows = self.summary[(self.summary["codec"] == codec)][["bpp", metric, "setting"]].dropna()
        return rows.sort_values("bpp").reset_index(drop=True)


def import_compressai_json(path: Path) -> pd.DataFrame:
    """A CompressAI results file as summary rows labelled "<name> (imported)"."""
    document = json.loads(Path(path).read_text())
    results = document.get("results", document)
    if "bpp" not in results:
        raise ReportError(f"{path}: no 'bpp' list in its results")
    frame = pd.DataFrame({"bpp": results["bpp"]})
    for key, column in IMPORT_KEYS.items():
        if key in results and column not in frame:
            frame[column] = results[key]
    frame.insert(0, "codec", f"{document.get('name', Path(path).stem)} (imported)")
    frame.insert(1, "setting", [f"imported #{i + 1}" for i in range(len(frame))])
    return frame


def load(results: Path, imports: list[Path] = (), metrics: list[str] | None = None) -> ReportData:
    if not (Path(results) / STORE_NAME).is_file():
        raise ReportError(f"no {STORE_NAME} in {results}: run `rdpbench run --out {results}` first")
    with ResultsStore(results) as store:
        per_image = export.per_image(store)
        summary = export.summary(per_image)
        distribution = export.distribution(store)
        if len(distribution):
            summary = summary.merge(distribution, on=["codec", "setting"], how="left")
        originals = export.originals(store)
    imported = [import_compressai_json(path) for path in imports]
    labels = {frame["codec"].iloc[0] for frame in imported}
    summary = pd.concat([summary, *imported], ignore_index=True)
    present = [m for m in METRICS if m in summary.columns and summary[m].notna().any()]
    if metrics:
        unknown = [m for m in metrics if m not in present]
        if unknown:
            raise ReportError(f"no values for {', '.join(unknown)} in {results} (present: {', '.join(present)})")
        present = [m for m in METRICS if m in metrics]
    return ReportData(summary, per_image, originals, present, labels, Path(results))
