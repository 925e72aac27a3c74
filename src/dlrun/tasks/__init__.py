"""Tasks: what a batch means (forward, loss, metrics). The trainer runs any task the same way."""
