"""Beam jobs, dataset adapters, the sample generator, the report and the `photoedit` CLI."""
