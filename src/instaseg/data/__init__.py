"""Datasets: formats, validation, the built-in synthetic dataset."""
