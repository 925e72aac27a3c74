"""Matplotlib figures for runs (imported only when a figure is drawn)."""
