"""Benchmarks: each prints its time against a floor (raw SQL on the same data, same run)."""
