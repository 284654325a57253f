"""Division maps (boundary and street outlines as GeoJSON) and placing reports on them."""
