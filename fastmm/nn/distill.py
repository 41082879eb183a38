"""Knowledge distillation loss (Hinton et al. 2015), as StrassenNets uses it.

    L = (1 − λ)·CE(y, s) + λ·T²·CE(softmax(t/T), s/T)

with student logits s, teacher logits t, temperature T and soft cross-entropy
CE(q, z) = −Σ_k q_k log softmax(z)_k, averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(target_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k q_k log softmax(z)_k."""
    return -(target_probs * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def kd_loss(
    student_logits: torch.Tensor,
    targets: torch.Tensor,
    teacher_logits: torch.Tensor,
    lam: float = 0.5,
    temperature: float = 1.0,
) -> torch.Tensor:
    """(1 − λ)·CE(y) + λ·T²·CE(softmax(teacher/T), student/T)."""
    hard = F.cross_entropy(student_logits, targets)
    t = temperature
    soft = soft_cross_entropy(F.softmax(teacher_logits.detach() / t, dim=1), student_logits / t)
    return (1.0 - lam) * hard + lam * t * t * soft
