"""Building blocks of learned codecs: the bitstream container, safe checkpoint loading, HiFiC."""
