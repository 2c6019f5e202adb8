"""Metric names to implementations, imported only when a metric is used.

Built-in metrics are listed here; other packages add metrics through the ``rdpbench.metrics``
entry-point group (name -> ``module:Class``). Names are snake_case column names; the command line
also accepts hyphens (``ms-ssim``).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from rdpbench.metrics.base import Metric, MetricContext

ENTRY_POINT_GROUP = "rdpbench.metrics"

BUILTIN = {
    "psnr": "rdpbench.metrics.distortion:PSNR",
    "ms_ssim": "rdpbench.metrics.distortion:MSSSIM",
    "lpips": "rdpbench.metrics.perceptual:LPIPS",
    "dists": "rdpbench.metrics.perceptual:DISTS",
    "niqe": "rdpbench.metrics.perceptual:NIQE",
    "fid": "rdpbench.metrics.distribution:FID",
    "kid": "rdpbench.metrics.distribution:KID",
}


class UnknownMetricError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def known_metrics() -> dict[str, str]:
    table = dict(BUILTIN)
    table.update({point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)})
    return table


def normalize(name: str) -> str:
    """``ms-ssim`` -> ``ms_ssim``; raises UnknownMetricError with suggestions for unknown names."""
    key = name.strip().lower().replace("-", "_")
    table = known_metrics()
    if key not in table:
        close = difflib.get_close_matches(key, table, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownMetricError(f"unknown metric {name!r}{hint} (known: {', '.join(sorted(table))})")
    return key


def metric_class(name: str) -> type[Metric]:
    module_name, _, class_name = known_metrics()[normalize(name)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_metric(name: str, context: MetricContext) -> Metric:
    return metric_class(name)(context)
