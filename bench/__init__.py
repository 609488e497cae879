"""Benchmarks (``make bench``): coldwatch beside the bare libraries, in the same run."""
