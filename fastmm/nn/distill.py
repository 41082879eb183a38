"""Knowledge distillation loss (Hinton et al. 2015), as StrassenNets uses it.

    L = (1 − λ)·CE(y, s) + λ·T²·KL(softmax(t/T) ‖ softmax(s/T))

with student logits s, teacher logits t and temperature T, averaged over the batch. The
paper writes the soft term as the cross-entropy CE(softmax(t/T), s/T); it differs from the
KL divergence by the teacher's entropy, a constant for the student, so the gradients are
the same. The KL form is reported because it is 0 when the student matches the teacher:
the cross-entropy form carries T²·H(teacher), about 7–8 at T = 4, which hides progress.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(target_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k q_k log softmax(z)_k."""
    return -(target_probs * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def kl_divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of KL(softmax(t) ‖ softmax(s)) = Σ_k q_k (log q_k − log p_k)."""
    return F.kl_div(
        F.log_softmax(student_logits, dim=1),
        F.log_softmax(teacher_logits, dim=1),
        log_target=True,
        reduction="batchmean",
    )


def kd_loss(
    student_logits: torch.Tensor,
    targets: torch.Tensor,
    teacher_logits: torch.Tensor,
    lam: float = 0.5,
    temperature: float = 1.0,
) -> torch.Tensor:
    """(1 − λ)·CE(y) + λ·T²·KL(softmax(teacher/T) ‖ softmax(student/T))."""
    hard = F.cross_entropy(student_logits, targets)
    t = temperature
    soft = kl_divergence(teacher_logits.detach() / t, student_logits / t)
    return (1.0 - lam) * hard + lam * t * t * soft
