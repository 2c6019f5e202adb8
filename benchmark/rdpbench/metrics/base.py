"""Metric kinds, split by the shape of the data they need.

- :class:`PairedMetric`: full-reference, per image (PSNR, MS-SSIM, LPIPS, DISTS). Called with the
  original and the reconstruction of one image, both uint8 RGB of shape (H, W, 3), the
  reconstruction already rounded to uint8 by the codec.
- :class:`NoReferenceMetric`: per image, one image alone (NIQE). The runner applies it to every
  reconstruction and, once per dataset, to the originals (the "Original" reference line).
- :class:`DistributionMetric`: a pure function of two feature sets (FID, KID, ...), the original
  patches' features against a codec setting's; features come from the feature extractor the
  metric names (rdpbench.features), so metrics on one extractor share one pass over the patches.

A metric declares everything about itself once, as class attributes: ``name`` (what ``--metrics``
takes), ``columns`` (the result columns it fills, with label, unit, direction and decimals:
rdpbench.columns.Column), ``group`` (the table it goes in), ``defaults`` (its options with their
default values), ``reference`` (the implementation it follows and how closely its values were
checked against that reference: :class:`Reference`) and :meth:`Metric.weight_names`. The runner records this in the store with every
run; exports, tables, figures and BD-rates read it from there.

A per-image metric returns a :class:`rdpbench.tasks.MetricValue`: a float, or NaN with a ``note``
saying why the value is undefined. Metrics are created once per worker process with the run's
context (rdpbench.context.RunContext); networks load lazily on first use, so creating one to check
its options and weight files is cheap.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from rdpbench.columns import Column
from rdpbench.context import RunContext
from rdpbench.features.registry import EXTRACTORS
from rdpbench.memory import DEFAULT_METRIC_FACTOR
from rdpbench.registry import UnknownNameError
from rdpbench.tasks import FeatureSpec, MetricValue


class MetricOptionError(ValueError):
    """An option given to a metric is unknown or invalid."""


class MetricDefinitionError(ValueError):
    """A metric class breaks the rules of its kind (a plug-in bug); the message names the rule."""


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_option(metric: str, key: str, value: Any, default: Any) -> Any:
    """``value`` (text from ``--option``, or a config value) as the type of ``default``: bool from
    true/false/yes/no/1/0, int only from whole numbers, float, str; MetricOptionError otherwise."""
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            return _BOOLEANS[str(value).strip().lower()]
        if kind is int:
            number = float(value)
            if isinstance(value, bool) or not number.is_integer():
                raise ValueError
            return int(number)
        return kind(value)
    except (KeyError, TypeError, ValueError):
        wanted = {bool: "true or false", int: "a whole number", float: "a number"}.get(kind, kind.__name__)
        raise MetricOptionError(f"metric {metric!r} option {key!r}: expected {wanted}, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class Reference:
    """The implementation a metric follows and the tolerance its values were checked to, against
    values that implementation (or its authors) published or output on identical input. One source
    of truth: `rdpbench metrics` shows it, the tests check within it.

    ``implementation``: what the values must equal (e.g. "Wang's ssim_index.m on MATLAB rgb2gray").
    ``check``: the test data it was checked on. ``abs_tol`` / ``rel_tol``: |value - reference| may
    be at most ``abs_tol + rel_tol * |reference|``. ``why``: what the tolerance allows for."""

    implementation: str
    check: str = ""
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    why: str = ""

    def tolerance(self) -> str:
        """What is allowed, e.g. "abs 5e-05 + rel 0.3%"; "exact" when both are 0."""
        parts = ([f"abs {self.abs_tol:g}"] if self.abs_tol else []) + ([f"rel {self.rel_tol * 100:g}%"] if self.rel_tol else [])
        return " + ".join(parts) or "exact"

    def allows(self, value: float, reference: float) -> bool:
        return abs(value - reference) <= self.abs_tol + self.rel_tol * abs(reference)


class Metric:
    """Common attributes (see the module docstring). A per-image metric fills one column, named as
    the metric; a distribution metric returns a value for each of its columns."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # set by the kinds below (rdpbench.columns.KINDS)
    columns: ClassVar[tuple[Column, ...]] = ()
    group: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    reference: ClassVar[Reference | None] = None

    def __init__(self, context: RunContext):
        self.context = context
        given = context.options.get(self.name, {})
        unknown = set(given) - set(self.defaults)
        if unknown:
            known = ", ".join(self.defaults) or "none"
            raise MetricOptionError(f"metric {self.name!r} has no option {', '.join(sorted(unknown))} (known: {known})")
        self.settings = {key: parse_option(self.name, key, given[key], default) if key in given else default
                         for key, default in self.defaults.items()}
        if not self.columns:
            raise MetricDefinitionError(f"metric {self.name!r} declares no columns")
        if self.kind != "distribution" and [column.name for column in self.columns] != [self.name]:
            raise MetricDefinitionError(f"metric {self.name!r} is per image: it fills one column, named "
                                        f"{self.name!r}, not {[column.name for column in self.columns]}")

    def column_info(self) -> list[Column]:
        """The declared columns, with this metric's name, kind and group filled in."""
        return [dataclasses.replace(column, metric=self.name, kind=self.kind, group=self.group)
                for column in self.columns]

    def weight_names(self) -> list[str]:
        """Canonical names of the pretrained files this metric needs (rdpbench.weights.KNOWN)."""
        return []

    def memory_factor(self) -> int:
        """Working memory per byte of the uint8 RGB image, for the memory budget (rdpbench.memory)."""
        return DEFAULT_METRIC_FACTOR

    def describe(self) -> str:
        """Convention and implementation, recorded in the run's provenance."""
        return ""


class PairedMetric(Metric):
    kind = "paired"

    def compute(self, reference: np.ndarray, reconstruction: np.ndarray) -> MetricValue:
        raise NotImplementedError


class NoReferenceMetric(Metric):
    kind = "no-reference"

    def compute(self, image: np.ndarray) -> MetricValue:
        raise NotImplementedError


class DistributionMetric(Metric):
    """A function of two feature sets: the features of the registered ``extractor`` on HiFiC's
    patches (options ``patch_size``, ``patch_shift``: rdpbench.features.patches). Subclasses that add
    options extend ``defaults`` (``{**DistributionMetric.defaults, "k": 3}``)."""

    kind = "distribution"
    extractor: ClassVar[str] = ""  # a registered feature extractor (rdpbench.features.registry)
    # Modules compute() imports: the runner imports them in a background thread while the tasks run,
    # so the distribution stage after the tasks does not wait for them (torch-fidelity: seconds).
    libraries: ClassVar[tuple[str, ...]] = ()
    defaults = {"patch_size": 256, "patch_shift": 128}

    def __init__(self, context: RunContext):
        super().__init__(context)
        if not self.extractor:
            raise MetricDefinitionError(f"metric {self.name!r} names no feature extractor (its `extractor`)")
        try:
            EXTRACTORS.load(self.extractor)
        except UnknownNameError as error:
            raise UnknownNameError(f"metric {self.name!r} needs a feature extractor: {error}") from None
        if self.settings["patch_size"] < 1 or self.settings["patch_shift"] < 0:
            raise MetricOptionError(f"metric {self.name!r}: patch_size must be at least 1 and patch_shift at least 0, "
                                    f"got {self.settings['patch_size']} and {self.settings['patch_shift']}")

    def feature_spec(self) -> FeatureSpec:
        dimension = EXTRACTORS.load(self.extractor).dimension
        return FeatureSpec(self.extractor, dimension, self.settings["patch_size"], self.settings["patch_shift"])

    def weight_names(self) -> list[str]:
        return list(EXTRACTORS.load(self.extractor).weight_files)

    def compute(self, reference_features: np.ndarray, reconstruction_features: np.ndarray) -> dict[str, float]:
        """Both arrays (N, D) float32, rows are patches; returns a value per column."""
        raise NotImplementedError


def image_tensor(image: np.ndarray, device: str, value_range: str = "0..1"):
    """uint8 (H, W, 3) -> float32 torch tensor (1, 3, H, W) on ``device`` in ``value_range``:
    "0..255" (as is), "0..1" (x / 255, pyiqa's convention) or "-1..1" (x / 127.5 - 1, lpips'
    ``im2tensor``). The formulas are the libraries' own, so values match them bit for bit."""
    import torch

    tensor = torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float()
    if value_range == "0..255":
        return tensor
    if value_range == "0..1":
        return tensor / 255.0
    if value_range == "-1..1":
        return tensor / 127.5 - 1.0
    raise ValueError(f"unknown value range {value_range!r}")
