"""Knowledge distillation (course lecture: L_KD = H(y, P_S) + λ·H(P_T^τ, P_S^τ), P^τ = softmax(a/τ), τ > 1):
the student's cross-entropy with the true labels plus λ·τ²·KL(P_T^τ ‖ P_S^τ) towards a frozen teacher's
softened outputs (the KL differs from the lecture's cross-entropy by the teacher's entropy, a constant; the
τ² keeps the soft term's gradients on the scale of the hard term's as τ grows, Hinton et al.)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.errors import DlrunError


class Distillation(nn.Module):
    """loss(student_logits, targets, *inputs). The teacher (any classifier checkpoint of dlrun train,
    rebuilt from its stored config, loaded with weights_only=True) runs on the same inputs in eval mode
    without gradients, under the trainer's autocast. Without inputs (validation, test) the loss is the
    hard cross-entropy alone, comparable with runs trained without a teacher."""

    takes_inputs = True  # the classification task passes the batch's inputs

    def __init__(self, teacher_ckpt: str | None = None, temperature: float = 4.0, soft_weight: float = 1.0) -> None:
        super().__init__()
        if not teacher_ckpt:
            raise ValueError("loss.teacher_ckpt must name a checkpoint of the teacher (e.g. outputs/<run>/checkpoints/best.pt)")
        if temperature <= 0 or soft_weight < 0:
            raise ValueError(f"need temperature > 0 and soft_weight >= 0, got {temperature} and {soft_weight}")
        self.teacher_ckpt = teacher_ckpt
        self.temperature = temperature
        self.soft_weight = soft_weight
        self._teacher: list[nn.Module] = []  # not a submodule: never trained, saved or moved with the loss

    def setup(self, data: Any, device: torch.device) -> None:
        """Rebuild the teacher from its checkpoint on this data (its sizes) and freeze it."""
        from omegaconf import OmegaConf

        from dlrun import build
        from dlrun.checkpoint import load_checkpoint
        from dlrun.paths import config_dirs
        from dlrun.trusted_targets import check_stored_targets

        state = load_checkpoint(self.teacher_ckpt)
        if not isinstance(state.get("config"), dict) or not isinstance(state.get("model"), dict):
            raise DlrunError(f"loss.teacher_ckpt: {self.teacher_ckpt} holds no run config and weights")
        check_stored_targets(state["config"], self.teacher_ckpt, config_dirs(), trust=False)
        teacher = build.build_model(OmegaConf.create(state["config"]), data)
        try:
            teacher.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DlrunError(f"loss.teacher_ckpt: weights do not fit its config: {str(err).splitlines()[0]}") from err
        teacher.requires_grad_(False)
        self._teacher = [teacher.to(device).eval()]

    def soft_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """τ² · KL(softmax(t/τ) ‖ softmax(s/τ)), averaged over the batch."""
        tau = self.temperature
        log_student = F.log_softmax(student.float() / tau, dim=1)
        log_teacher = F.log_softmax(teacher.float() / tau, dim=1)
        return tau**2 * F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, *inputs: Any) -> torch.Tensor:
        hard = F.cross_entropy(logits, targets)
        if not inputs or self.soft_weight == 0:
            return hard
        if not self._teacher:
            raise DlrunError("loss=distillation: the teacher is not loaded (the task did not call loss.setup)")
        with torch.no_grad():
            teacher_logits = self._teacher[0](*inputs)
        if teacher_logits.shape != logits.shape:
            raise DlrunError(f"loss=distillation: teacher outputs {tuple(teacher_logits.shape)}, student {tuple(logits.shape)}")
        return hard + self.soft_weight * self.soft_term(logits, teacher_logits)
