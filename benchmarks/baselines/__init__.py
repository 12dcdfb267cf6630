"""Baselines the benchmarks compare against: the same answers, computed the slow, obvious way."""
