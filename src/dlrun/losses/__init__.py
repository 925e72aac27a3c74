"""Losses not in torch.nn as they are (configs for built-in losses name torch.nn directly)."""
