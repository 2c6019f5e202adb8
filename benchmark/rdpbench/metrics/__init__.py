"""Image quality metrics, as plug-ins of the kinds in :mod:`rdpbench.metrics.base`."""
