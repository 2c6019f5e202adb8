"""What to run: a benchmark config (TOML) and command-line flags merged into one :class:`RunSpec`.

Config format (see benchmark/configs/*.toml)::

    dataset = "kodak"               # or: images = "path/to/folder"
    metrics = ["psnr", "ms_ssim"]
    out = "results/kodak"           # relative paths are taken from the project root
    jobs = 2
    save_recon = true               # optional; also weights_dir = "..."

    [[codec]]
    name = "jpeg"                   # registry name (`rdpbench codecs`)
    label = "jpeg"                  # column value; default: name, plus [options] if any are set
    optional = false                # true: skip with a warning if the codec is unavailable here
    options = { subsampling = "4:2:0" }
    sweep = { quality = "5:95:10" } # or a list [5, 15, 25]; several knobs give their product

    [metric_options.lpips]          # options of metrics (command line: --option lpips.net=vgg)
    net = "vgg"

    [executor]                      # optional: run on Dask (rdpbench.dask_executor, README)
    cluster = "slurm"               # or scheduler = "tcp://host:8786"; cluster = "local" uses jobs

Sweep values on the command line: ``quality=5,15,25`` or ``quality=5:95:10`` (start:stop:step, the
stop included when the steps reach it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rdpbench.paths import project_root


class SpecError(ValueError):
    """The run description is incomplete or contradictory; the message says what to change."""


@dataclass
class CodecSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    label: str | None = None
    optional: bool = False

    def column_label(self) -> str:
        """The ``codec`` value of result rows: the given label, else the name plus any options, so
        that results with different fixed options never share rows."""
        if self.label:
            return self.label
        if not self.options:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in self.options.items())}]"


@dataclass
class RunSpec:
    codecs: list[CodecSpec]
    images: Path | None = None
    dataset: str | None = None
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ms_ssim"])
    out: Path | None = None
    jobs: int = 1
    device: str = "cpu"
    save_recon: bool = False
    retry_errors: bool = False
    weights_dir: Path | None = None
    allow_unverified_weights: bool = False
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    match_bpp: str | None = None  # "CODEC:SETTING" whose per-image bpp the one codec must meet
    match_side: str = "above"
    executor: dict[str, Any] = field(default_factory=dict)  # the [executor] table, read by rdpbench.dask_executor

    def as_config(self) -> dict[str, Any]:
        """JSON-able form for the run's provenance."""
        return {
            "images": str(self.images) if self.images else None, "dataset": self.dataset,
            "metrics": self.metrics, "out": str(self.out), "jobs": self.jobs, "device": self.device,
            "save_recon": self.save_recon, "retry_errors": self.retry_errors,
            "weights_dir": str(self.weights_dir) if self.weights_dir else None,
            "allow_unverified_weights": self.allow_unverified_weights, "metric_options": self.metric_options,
            "match_bpp": self.match_bpp, "match_side": self.match_side, "executor": self.executor,
            "codecs": [{"name": c.name, "label": c.column_label(), "options": c.options, "sweep": c.sweep}
                       for c in self.codecs],
        }


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SpecError(f"{text!r} is not a number (in a start:stop:step range)") from None


def parse_values(text: str | list | int | float) -> list[Any]:
    """``"5,15,25"`` -> ["5", "15", "25"]; ``"5:25:10"`` -> ["5", "15", "25"]; lists pass through.
    Values stay text (or TOML scalars) here; the codec's Param converts and validates them."""
    if isinstance(text, list):
        return text
    if not isinstance(text, str):
        return [text]
    if text.count(":") == 2 and "," not in text:
        start, stop, step = (_number(part) for part in text.split(":"))
        if step <= 0 or stop < start:
            raise SpecError(f"range {text!r} needs start <= stop and a positive step")
        count = int((stop - start) / step) + 1
        return [str(start + i * step) for i in range(count)]
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise SpecError(f"no values in {text!r}")
    return values


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    """``"quality=5,15"`` -> ("quality", "5,15")."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise SpecError(f"{flag} {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def resolve_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def load_config(path: Path) -> RunSpec:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SpecError(f"cannot read config {path}: {error}") from error
    codecs = []
    for entry in data.get("codec", []):
        if "name" not in entry:
            raise SpecError(f"{path}: every [[codec]] needs a name")
        codecs.append(CodecSpec(
            name=entry["name"], label=entry.get("label"), optional=bool(entry.get("optional", False)),
            options=dict(entry.get("options", {})),
            sweep={knob: parse_values(values) for knob, values in entry.get("sweep", {}).items()},
        ))
    return RunSpec(
        codecs=codecs,
        images=resolve_path(data["images"]) if "images" in data else None,
        dataset=data.get("dataset"),
        metrics=list(data.get("metrics", ["psnr", "ms_ssim"])),
        out=resolve_path(data["out"]) if "out" in data else None,
        jobs=int(data.get("jobs", 1)),
        device=data.get("device", "cpu"),
        save_recon=bool(data.get("save_recon", False)),
        weights_dir=resolve_path(data["weights_dir"]) if "weights_dir" in data else None,
        metric_options={name: dict(values) for name, values in data.get("metric_options", {}).items()},
        executor=dict(data.get("executor", {})),
    )
