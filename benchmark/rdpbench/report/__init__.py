"""`rdpbench report`: figures, tables, BD-rates, matched bitrates and a visual comparison page,
rendered from a results store (never recomputing codecs or metrics)."""
