"""The dataset key vocabulary: one place that turns a renamed key into a one-line error, and the checks every dataset shares."""

from __future__ import annotations

RENAMED = {
    "data_dir": "root",
    "split_seed": "seed",
    "generator_seed": "seed",
    "val_fraction": "val_size",
    "test_fraction": "test_size",
    "url": "mirrors",
}
NOTES = {
    "val_size": " (a count or a fraction in (0, 1))",
    "test_size": " (a count or a fraction in (0, 1))",
    "mirrors": " (a list of base URLs; the file name is appended)",
}


def renamed_message(key: str) -> str | None:
    """"dataset.data_dir was renamed to dataset.root" for an old dataset key, None for any other key."""
    group, _, name = key.rpartition(".")
    if group != "dataset" or name not in RENAMED:
        return None
    new = RENAMED[name]
    return f"{key} was renamed to dataset.{new}{NOTES.get(new, '')}"


def check_batch_sizes(batch_size: int, eval_batch_size: int | None) -> None:
    """Both batch sizes >= 1 (eval_batch_size None: the training one is used): ValueError otherwise."""
    if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
        raise ValueError(f"batch_size and eval_batch_size must be >= 1, got {batch_size} and {eval_batch_size}")
