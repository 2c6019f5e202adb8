"""What a metric's result column means and how it is shown: declared once by the metric
(rdpbench.metrics), recorded with every run in the store, and read from there by the exports,
tables, figures and BD-rates. A leaf module, so the store and the report need no metric code.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("paired", "no-reference", "distribution")  # full-reference per image; one image alone; feature sets


@dataclass(frozen=True)
class Column:
    """One result column.

    ``name``: the column in the results (snake_case). ``label``: its name for readers, without unit.
    ``unit``: "" when unitless. ``higher_is_better``: the direction; None for a column that is not a
    quality (KID's standard deviation): it is exported but never plotted, ranked or BD-rated.
    ``decimals``: digits after the point in tables. ``metric``: the metric that fills it; ``kind``:
    one of KINDS; ``group``: tables are split by group ("distortion", "perceptual (full-reference)", ...).
    """

    name: str
    label: str
    unit: str = ""
    higher_is_better: bool | None = True
    decimals: int = 4
    metric: str = ""
    kind: str = ""
    group: str = ""

    @property
    def heading(self) -> str:
        """Label with unit: "PSNR [dB]", "LPIPS"."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return ""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]

    @property
    def is_quality(self) -> bool:
        """Plotted, ranked and BD-rated (it has a direction)."""
        return self.higher_is_better is not None

    @property
    def per_image(self) -> bool:
        """Has per-image values (bootstrap bands, per-image tables); distribution metrics do not."""
        return self.kind != "distribution"
