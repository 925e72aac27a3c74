"""Linear decay then constant (course): eps_k = (1 - k/tau) eps_0 + (k/tau) eps_tau for k <= tau."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class LinearDecayLR(LRScheduler):
    """Decays each group's lr linearly from eps_0 to eps_tau = final_ratio * eps_0 over `tau`
    scheduler steps (epochs or iterations), then holds eps_tau."""

    def __init__(self, optimizer: Optimizer, tau: int, final_ratio: float = 0.01, last_epoch: int = -1) -> None:
        if tau is None or int(tau) < 1:
            raise ValueError(f"tau must be >= 1, got {tau}")
        if final_ratio < 0:
            raise ValueError(f"final_ratio must be >= 0, got {final_ratio}")
        self.tau = int(tau)
        self.final_ratio = float(final_ratio)
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        alpha = min(k / self.tau, 1.0)
        return (1 - alpha) + alpha * self.final_ratio

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]
