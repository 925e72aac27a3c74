"""Datasets: each config in configs/dataset/ names a DataModule class here."""
