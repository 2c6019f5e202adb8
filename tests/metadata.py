"""Metric metadata for hand-built stores and report data: what the runner records for a run that
used these metrics (each metric's declared columns, from the registered metric classes)."""

from __future__ import annotations

from rdpbench.columns import Column
from rdpbench.context import RunContext
from rdpbench.metrics.registry import create_metric, position


def declared_columns(*names: str) -> dict[str, Column]:
    """{column: Column} of the metrics ``names``, in the order results show them."""
    metrics = sorted(names, key=position)
    return {c.name: c for name in metrics for c in create_metric(name, RunContext()).column_info()}


def record_metrics(store, run_id: int, *names: str) -> None:
    """Record ``names`` in ``store`` for ``run_id`` as `rdpbench run` does."""
    for name in names:
        metric = create_metric(name, RunContext())
        store.record_metric(run_id, name, metric.describe(), metric.settings, metric.weight_names(),
                            metric.column_info(), position(name))
