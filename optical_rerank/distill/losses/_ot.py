"""Method ``"ot"`` (OPTICAL): the entropic OT cost between student and teacher token states."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ...ot import idf_marginals, ot_loss
from ._common import check_layers, valid_rows, zero_loss

if TYPE_CHECKING:
    from .._states import SegmentStates

Tensor = torch.Tensor


def ot_distill_loss(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor], s_mask: Tensor,
                    t_mask: Tensor, config: Any, *, a: Tensor | None = None,
                    b: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """OPTICAL loss ``sum_l mean_batch <P*_l, C_l>``.

    For each layer ``l``, with ``X = student_states[l]`` (B, n, h) and ``E = teacher_states[l]``
    (B, m, h), and per batch row (padding excluded by the masks)::

        C_ij = 1 - cos(X_i, E_j)                     cost="cosine"          C : (B, n, m)
             = ||X_i - E_j||^2 / h                   cost="sqeuclidean"
        a_i  = 1 / n_real  on real tokens of X, 0 on padding   (or the weights ``a``)   (B, n)
        b_j  = 1 / m_real  on real tokens of E, 0 on padding   (or the weights ``b``)   (B, m)
        P*   = argmin_{P >= 0, P 1 = a, P^T 1 = b}  <P, C> - eps H(P)           eps = config.reg
        loss = sum_l mean_rows <P*_l, C_l>_F

    ``P*`` comes from the batched log-domain Sinkhorn solver (:func:`optical_rerank.ot.sinkhorn`):
    ``f <- eps log a - eps LSE_j((g_j - C_ij) / eps)``, ``g <- eps log b - eps LSE_i((f_i - C_ij) / eps)``,
    ``P_ij = exp((f_i + g_j - C_ij) / eps)``. With ``config.unbalanced_tau = tau`` the hard marginals
    are replaced by ``tau KL(P 1 | a) + tau KL(P^T 1 | b)``, so tokens without a counterpart need
    not be transported. ``config.grad="envelope"`` detaches ``P*``: the gradient is
    ``sum_ij P*_ij dC_ij`` (envelope theorem); ``"unrolled"`` back-propagates through the iterations.

    Parameters
    ----------
    student_states : per layer, Tensor (B, n, h)
    teacher_states : per layer, Tensor (B, m, h) (computed without gradient)
    s_mask : Tensor (B, n), bool — real student tokens.
    t_mask : Tensor (B, m), bool — real teacher tokens.
    config : :class:`DistillConfig` (or any object with ``cost``, ``reg``, ``max_iter``, ``tol``,
        ``unbalanced_tau``, ``grad``).
    a, b : optional token weights (B, n) / (B, m) (e.g. :func:`optical_rerank.ot.idf_marginals`).

    Returns
    -------
    loss : Tensor, scalar
        Rows where either side has no token (e.g. truncated away) are left out of the mean.
    info : dict
        ``per_layer`` (floats), ``iters`` (max Sinkhorn iterations), ``not_converged`` (count of
        problems over all layers), ``pairs`` (rows used).

    Raises
    ------
    NumericalError
        From the solver when states are NaN/Inf.
    """
    check_layers(student_states, teacher_states)
    valid = valid_rows(s_mask, t_mask)
    info: dict[str, Any] = {"per_layer": [], "iters": 0, "not_converged": 0, "pairs": int(valid.sum())}
    if not bool(valid.any()):
        zero = zero_loss(student_states)
        info["per_layer"] = [0.0] * len(student_states)
        return zero, info
    sm, tm = s_mask[valid], t_mask[valid]
    av = a[valid] if a is not None else None
    bv = b[valid] if b is not None else None
    total = None
    for X, E in zip(student_states, teacher_states):
        per_pair, res = ot_loss(X[valid], E[valid].detach(), sm, tm, reg=config.reg, cost=config.cost,
                                unbalanced_tau=config.unbalanced_tau, grad=config.grad, a=av, b=bv,
                                max_iter=config.max_iter, tol=config.tol, warn=False)
        value = per_pair.mean()
        total = value if total is None else total + value
        info["per_layer"].append(float(value.detach()))
        info["iters"] = max(info["iters"], int(res.n_iter))
        info["not_converged"] += int((~res.batch_converged).sum())
    return total, info


def build_idf_table(tokenizer: Any, texts: Iterable[str], vocab_size: int | None = None) -> Tensor:
    """IDF per token id over ``texts``: ``log((N + 1) / (df + 1)) + 1`` (tokens without special tokens).

    Returns
    -------
    Tensor (V,), float32, with ``V = max(vocab_size, len(tokenizer))``.
    """
    texts = list(texts)
    V = max(int(vocab_size or 0), len(tokenizer))
    df = torch.zeros(V, dtype=torch.float64)
    for i in range(0, len(texts), 1024):
        for ids in tokenizer(texts[i:i + 1024], add_special_tokens=False)["input_ids"]:
            u = torch.tensor(sorted(set(ids)), dtype=torch.long)
            if len(u):
                df[u] += 1
    n = float(len(texts))
    return (torch.log((n + 1.0) / (df + 1.0)) + 1.0).to(torch.float32)


def ot_state_loss(student: SegmentStates, teacher: SegmentStates, config: Any,
                  idf: Tensor | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The ``"ot"`` method: :func:`ot_distill_loss` with uniform marginals, or IDF marginals
    (:func:`optical_rerank.ot.idf_marginals`) from the table ``idf`` (V,) when it is given."""
    a = b = None
    if idf is not None:
        a = idf_marginals(student.token_ids, student.mask, idf)
        b = idf_marginals(teacher.token_ids, teacher.mask, idf)
    return ot_distill_loss(student.states, teacher.states, student.mask, teacher.mask, config, a=a, b=b)
