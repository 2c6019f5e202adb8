"""What to run: a benchmark config (TOML) and command-line flags merged into one :class:`RunSpec`.

Config format (see benchmark/configs/*.toml)::

    dataset = "kodak"               # or: images = "path/to/folder"
    metrics = ["psnr", "ms_ssim"]
    out = "results/kodak"           # relative paths: from the current folder, as on the command line
    jobs = 2
    save_recon = true               # optional; also weights_dir = "...", memory_budget = "4G"
    plugins = ["my_metric.py"]      # plug-in files or folders (rdpbench.plugins)

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

Validation happens here, before any work: unknown keys are errors with a did-you-mean, every value
has its type checked, and sizes are bounded (a knob takes at most MAX_SWEEP_VALUES values, a codec
at most MAX_SETTINGS settings, a run at most MAX_TASKS tasks) so that a typo such as
``quality=1:100:0.0000001`` is refused with its count instead of allocating gigabytes.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, DecimalException
from pathlib import Path
from typing import Any

from rdpbench.paths import shipped, user_path
from rdpbench.safe_paths import UnsafePathError, inside


MAX_SWEEP_VALUES = 10_000
MAX_SETTINGS = 10_000
MAX_TASKS = 1_000_000
DEVICES = ("cpu", "cuda")


class SpecError(ValueError):
    """The run description is incomplete or contradictory; the message says what to change."""


# Config keys and their TOML types (checked by load_config).
_TOP_KEYS: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "images": (str,), "metrics": (list,), "out": (str,), "jobs": (int,), "device": (str,),
    "save_recon": (bool,), "weights_dir": (str,), "memory_budget": (str, int), "metric_options": (dict,),
    "codec": (list,), "executor": (dict,), "plugins": (list,),
}
_CODEC_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "label": (str,), "optional": (bool,), "options": (dict,), "sweep": (dict,),
}


def check_keys(table: dict, known: dict[str, tuple[type, ...]], where: str) -> None:
    """Refuse unknown keys (with a did-you-mean) and values of the wrong TOML type."""
    for key, value in table.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{where}: unknown key {key!r}{hint} (known: {', '.join(sorted(known))})")
        types = known[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wanted = " or ".join({"str": "a string", "list": "a list", "int": "an integer", "bool": "true/false",
                                  "dict": "a table"}[t.__name__] for t in types)
            raise SpecError(f"{where}: {key} must be {wanted}, not {type(value).__name__} {value!r}"
                            + (f' (e.g. {key} = ["psnr", "ms_ssim"])' if key == "metrics" else ""))


def check_jobs(jobs: int) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SpecError(f"jobs must be a whole number >= 1, not {jobs!r}")


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise SpecError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")


@dataclass
class CodecSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    label: str | None = None
    optional: bool = False
    instance: Any = None  # a Codec object handed over by the Python API (runs in its process), else None

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
    images: Path | list[Path] | None = None  # a folder, or (Python API) image files
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
    memory_budget: int | None = None  # bytes per task (rdpbench.memory); None: the default share of RAM
    match_bpp: str | None = None  # "CODEC:SETTING" whose per-image bpp the one codec must meet
    match_side: str = "above"
    executor: dict[str, Any] = field(default_factory=dict)  # the [executor] table, read by rdpbench.dask_executor
    plugins: list[Path] = field(default_factory=list)  # plug-in files and folders (rdpbench.plugins)

    def as_config(self) -> dict[str, Any]:
        """JSON-able form for the run's provenance."""
        return {
            "images": ([str(p) for p in self.images] if isinstance(self.images, list) else str(self.images))
            if self.images else None, "dataset": self.dataset,
            "metrics": self.metrics, "out": str(self.out), "jobs": self.jobs, "device": self.device,
            "save_recon": self.save_recon, "retry_errors": self.retry_errors,
            "weights_dir": str(self.weights_dir) if self.weights_dir else None,
            "allow_unverified_weights": self.allow_unverified_weights, "metric_options": self.metric_options,
            "match_bpp": self.match_bpp, "match_side": self.match_side, "memory_budget": self.memory_budget,
            "executor": self.executor, "plugins": [str(path) for path in self.plugins],
            "codecs": [{"name": c.name, "label": c.column_label(), "options": c.options, "sweep": c.sweep}
                       for c in self.codecs],
        }


def _number(text: str) -> Decimal:
    try:
        number = Decimal(text)
    except DecimalException:
        number = None
    if number is None or not number.is_finite():
        raise SpecError(f"{text!r} is not a finite number (in a start:stop:step range)")
    return number


def parse_values(text: str | list | int | float) -> list[Any]:
    """``"5,15,25"`` -> ["5", "15", "25"]; ``"5:25:10"`` -> ["5", "15", "25"]; lists pass through.
    Values stay text (or TOML scalars) here; the codec's Param converts and validates them."""
    if isinstance(text, list):
        values = text
    elif not isinstance(text, str):
        values = [text]
    elif text.count(":") == 2 and "," not in text:
        start, stop, step = (_number(part) for part in text.split(":"))
        if step <= 0 or stop < start:
            raise SpecError(f"range {text!r} needs start <= stop and a positive step")
        try:
            count = ((stop - start) / step).to_integral_value(rounding=ROUND_FLOOR) + 1
        except DecimalException:
            count = None  # beyond Decimal's range: certainly too many
        if count is None or count > MAX_SWEEP_VALUES:
            shown = "an astronomical number of" if count is None else (
                str(int(count)) if count < 10**12 else f"about {count:.2e}")
            raise SpecError(f"sweep {text!r} would make {shown} values, more than {MAX_SWEEP_VALUES}; "
                            "use a coarser step")
        return [str(start + i * step) for i in range(int(count))]
    else:
        values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise SpecError(f"no values in {text!r}")
    if len(values) > MAX_SWEEP_VALUES:
        raise SpecError(f"sweep {text!r} has {len(values)} values, more than {MAX_SWEEP_VALUES}")
    return values


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    """``"quality=5,15"`` -> ("quality", "5,15")."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise SpecError(f"{flag} {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def shipped_configs() -> dict[str, Path]:
    """The configs rdpbench ships (benchmark/configs/ of the checkout, or the wheel's copy), by name."""
    return {path.stem: path for path in sorted(shipped("configs").glob("*.toml"))}


def find_config(text: str) -> Path:
    """A config: a file (relative to the current folder), else a shipped config by name (``demo``,
    ``kodak-classical``: ``rdpbench configs`` lists them); SpecError naming both when neither exists."""
    path = user_path(text)
    if path.is_file():
        return path
    try:
        named = inside(shipped("configs"), f"{text}.toml", "config name")
    except UnsafePathError:
        named = None
    if named is not None and named.is_file():
        return named
    raise SpecError(f"no config file {path}, and no shipped config named {text!r} "
                    f"(shipped: {', '.join(shipped_configs()) or 'none'}; `rdpbench configs` shows them)")


def load_config(path: Path) -> RunSpec:
    """Read and validate a config (see the module docstring); SpecError names the file and key."""
    from rdpbench.memory import BudgetError, parse_size

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SpecError(f"cannot read config {path}: {error}") from error
    check_keys(data, _TOP_KEYS, str(path))
    codecs = []
    for index, entry in enumerate(data.get("codec", []), start=1):
        where = f"{path}: [[codec]] number {index}"
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: must be a table ([[codec]] with name = ...)")
        check_keys(entry, _CODEC_KEYS, where)
        if "name" not in entry:
            raise SpecError(f"{where}: every [[codec]] needs a name")
        sweep = {}
        for knob, values in entry.get("sweep", {}).items():
            if not isinstance(values, (str, list, int, float)):
                raise SpecError(f"{where}: sweep {knob} must be a list or a text such as \"5:95:10\"")
            sweep[knob] = parse_values(values)
        codecs.append(CodecSpec(name=entry["name"], label=entry.get("label"), optional=entry.get("optional", False),
                                options=dict(entry.get("options", {})), sweep=sweep))
    if not all(isinstance(item, str) for item in data.get("plugins", [])):
        raise SpecError(f'{path}: plugins must be a list of paths, e.g. plugins = ["my_metric.py"]')
    metrics = data.get("metrics", ["psnr", "ms_ssim"])
    if not all(isinstance(name, str) for name in metrics):
        raise SpecError(f'{path}: metrics must be a list of names, e.g. metrics = ["psnr", "ms_ssim"]')
    for name, values in data.get("metric_options", {}).items():
        if not isinstance(values, dict):
            raise SpecError(f"{path}: [metric_options.{name}] must be a table of options")
    jobs, device = data.get("jobs", 1), data.get("device", "cpu")
    check_jobs(jobs)
    check_device(device)
    try:
        budget = parse_size(data["memory_budget"]) if "memory_budget" in data else None
    except BudgetError as error:
        raise SpecError(f"{path}: {error}") from error
    return RunSpec(
        codecs=codecs,
        images=user_path(data["images"]) if "images" in data else None,
        dataset=data.get("dataset"),
        metrics=list(metrics),
        out=user_path(data["out"]) if "out" in data else None,
        jobs=jobs,
        device=device,
        save_recon=data.get("save_recon", False),
        weights_dir=user_path(data["weights_dir"]) if "weights_dir" in data else None,
        metric_options={name: dict(values) for name, values in data.get("metric_options", {}).items()},
        memory_budget=budget,
        executor=dict(data.get("executor", {})),
        plugins=[user_path(item) for item in data.get("plugins", [])],
    )
