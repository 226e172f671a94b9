"""Batched, masked entropic optimal transport (Sinkhorn) in torch, for OPTICAL distillation.

The solver follows POT's conventions (``ot.sinkhorn(a, b, M, reg)``; ``reg_m`` for the
unbalanced marginal relaxation, here called ``tau``) but solves a whole batch of problems of
different sizes at once: problems are padded to a common ``(n, m)`` and every entry whose
marginal weight is zero is *padding*. Padding rows and columns get exactly zero mass in the
plan, zero dual potentials and zero gradient, and rows/columns (or whole batch elements) that
are entirely padding never produce NaN.

Problem solved for each batch element (``P`` is ``(n, m)``, ``eps = reg``)::

    balanced   : min_P <P, C> + eps * KL(P | a b^T)        s.t.  P 1 = a,  P^T 1 = b
    unbalanced : min_P <P, C> + eps * KL(P | a b^T) + tau_a * KL(P 1 | a) + tau_b * KL(P^T 1 | b)

(for balanced OT the reference measure of the entropy does not change the plan; for unbalanced
OT ``reg_type="kl"`` uses ``a b^T`` as POT >= 0.9.5 does by default, ``reg_type="entropy"`` uses
the all-ones measure). The log-domain updates, with potentials ``f, g`` in cost units, are::

    f_i <- eps log a_i - lam_a * eps LSE_j((g_j - C_ij) / eps)        lam = tau / (tau + eps)
    g_j <- eps log b_j - lam_b * eps LSE_i((f_i - C_ij) / eps)        (lam = 1: balanced)
    P_ij = exp((f_i + g_j - C_ij) / eps)

(``reg_type="entropy"``: ``f_i <- lam_a * (eps log a_i - eps LSE_j(...))``.)

Two inner-loop implementations compute exactly these iterates (internally in base-2 log units,
``exp2``/``log2``, which are several times faster than ``exp``/``log`` on CPU):

* ``method="log"``: every half-iteration is a masked log-sum-exp over the ``(B, n, m)`` tensor.
* ``method="stabilized"`` (default): log-domain potentials with an *absorbed* kernel
  (Schmitzer 2019, "Stabilized sparse scaling algorithms"). Every 100 iterations the kernel
  ``K_ij = exp((f_i + g_j - C_ij)/eps)`` is rebuilt in the log domain from the current
  potentials (the current plan, with a row-max fallback when a row under/overflows); in between,
  the same updates are carried out on the scalings ``u = exp((f - f0)/eps)``,
  ``v = exp((g - g0)/eps)`` as two batched mat-vecs per iteration. A window whose scalings leave
  the range the kernel represents accurately (``|log2 u|, |log2 v| > 40`` in float32, or any
  non-finite value) is discarded and recomputed with log-sum-exp updates, so both methods reach
  the same fixed point; reg far below the cost range just makes more windows fall back.

Convergence is checked every ``check_every`` iterations. Balanced: relative L1 violation of the
row marginal ``||P 1 - a||_1 / ||a||_1`` (the column marginal is exact after the ``g`` update).
Unbalanced: largest change of the scaled potentials ``f/eps, g/eps`` (i.e. of ``log u, log v``)
in the last iteration. Problems that are not converged after ``max_iter`` iterations raise a
:class:`ConvergenceWarning`. With ``grad="envelope"``, balanced problems that have converged
leave the working batch at the check (their plan is final), so a batch of easy and hard
problems costs little more than its hard ones. For balanced OT the masses of ``a`` and ``b`` must agree up to
rounding (relative ``1e-6``); ``b`` is then rescaled to ``a``'s mass.

Gradients: ``grad="envelope"`` solves under ``torch.no_grad`` and returns ``cost = <P*, C>`` with
``P*`` detached, so ``d cost / d C = P*`` (this is the gradient of the entropic OT value by the
envelope theorem, and it costs nothing extra). ``grad="unrolled"`` back-propagates through all
iterations (memory grows with the number of iterations; gives the exact gradient of the linear
term ``<P*(C), C>`` and gradients with respect to ``a`` and ``b``).
"""
from __future__ import annotations

from ._costs import COSTS, cosine_cost, idf_marginals, sqeuclidean_cost, uniform_marginals
from ._loss import ot_loss
from ._sinkhorn import ConvergenceWarning, SinkhornResult, sinkhorn

__all__ = [
    "COSTS",
    "ConvergenceWarning",
    "SinkhornResult",
    "cosine_cost",
    "idf_marginals",
    "ot_loss",
    "sinkhorn",
    "sqeuclidean_cost",
    "uniform_marginals",
]
