"""Regularizers: penalties added to the loss, or projections applied after each optimizer step."""
