"""``ssl-kd sweep``: a grid of overrides x seeds, each an ordinary run, stages shared through a fingerprint store."""
