"""Models: each config in configs/model/ names a module here."""
