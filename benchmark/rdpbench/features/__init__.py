"""Feature extractors for distribution metrics, as plug-ins (:mod:`.base`, :mod:`.registry`), and
HiFiC's patch protocol (:mod:`.patches`). A distribution metric names the extractor it needs;
the features of the originals are cached per extractor and patch protocol, those of the
reconstructions stored per extractor."""
