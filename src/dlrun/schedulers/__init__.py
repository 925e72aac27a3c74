"""Learning-rate schedules: course schedules not in torch, and the wrapper that steps any scheduler."""
