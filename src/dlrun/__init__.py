"""dlrun: a Hydra-configured experiment runner for the deep-learning course."""

__version__ = "0.1.0"
