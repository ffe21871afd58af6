"""Benchmarks: update throughput and collection speed, measured as ratios in one run."""
