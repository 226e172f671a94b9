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

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import ConfigError, NumericalError

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

Tensor = torch.Tensor


class ConvergenceWarning(UserWarning):
    """Sinkhorn stopped at ``max_iter`` before reaching ``tol`` for some batch elements."""


@dataclass(frozen=True)
class SinkhornResult:
    """Output of :func:`sinkhorn`.

    Attributes
    ----------
    plan : Tensor, shape (B, n, m)
        Transport plan ``P``; exactly zero in padded rows/columns. Detached for
        ``grad="envelope"``.
    cost : Tensor, shape (B,)
        Transport cost ``<P, C>`` (padding excluded); differentiable with respect to the cost
        matrix in both gradient modes.
    n_iter : int
        Sinkhorn iterations performed (one iteration = one ``f`` and one ``g`` update) by the
        longest-running problem of the batch, including the epsilon-scaling warm-up.
    converged : bool
        Whether every batch element reached ``tol``.
    err : float
        Largest convergence error over the batch (see the module docstring for its definition).
    f : Tensor, shape (B, n)
        Row dual potential in cost units; ``0`` at padding.
    g : Tensor, shape (B, m)
        Column dual potential in cost units; ``0`` at padding.
    batch_err : Tensor, shape (B,)
        Convergence error of each batch element.
    batch_converged : Tensor, shape (B,), bool
        ``batch_err < tol`` per batch element.

    For an unbatched call (2-D cost) the batch dimension is removed from every tensor.
    """

    plan: Tensor
    cost: Tensor
    n_iter: int
    converged: bool
    err: float
    f: Tensor
    g: Tensor
    batch_err: Tensor
    batch_converged: Tensor


# --------------------------------------------------------------------------- helpers
# Internally the solver works in base-2 log units (potentials f / (eps ln 2), exp2, log2):
# the iterates are the same, and torch's CPU exp2 is several times faster than exp.
_LN2 = math.log(2.0)
_ABSORB_EVERY = 100     # iterations between two log-domain re-stabilisations of the kernel


def _lam(tau: float, eps: float) -> float:
    """Exponent ``tau / (tau + eps)`` of the KL-relaxed update (1 for a hard constraint)."""
    return 1.0 if math.isinf(tau) else tau / (tau + eps)


def _from_lse(log_w: Tensor, lse: Tensor, lam: float, kl_ref: bool) -> Tensor:
    """Scaled potential update: ``log w - lam * lse`` (KL reference) or ``lam (log w - lse)``."""
    if lam == 1.0:
        return log_w - lse
    if kl_ref:
        return log_w - lam * lse
    return lam * (log_w - lse)


def _shift(log_w: Tensor, s: Tensor, lam: float, kl_ref: bool) -> Tensor:
    """Constant part ``c`` of the update ``c - lam * log2(sum)`` when ``lse = log2(sum) - s``."""
    if lam == 1.0:
        return log_w + s
    if kl_ref:
        return log_w + lam * s
    return lam * (log_w + s)


def _from_sum(c: Tensor, s: Tensor, pad: Tensor, lam: float) -> Tensor:
    """``c - lam * log2(s + pad)`` (``pad`` = 1 where a row/column is entirely padding)."""
    if lam == 1.0:
        return c - torch.log2(s + pad)
    return c - lam * torch.log2(s + pad)


def _masked_lse2(x: Tensor, dim: int, pad: Tensor) -> Tensor:
    """Base-2 log-sum-exp of ``x`` over ``dim`` where masked entries are ``-inf``.

    ``pad`` (the shape of the result) is 1.0 where every entry is masked and 0.0 elsewhere;
    those results are 0 instead of ``-inf``, without NaN in the forward or backward pass.
    """
    mx = x.detach().amax(dim, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    s = torch.exp2(x - mx).sum(dim)
    return torch.log2(s + pad) + mx.squeeze(dim)


def _batch_list(flags: Tensor, limit: int = 10) -> str:
    """Render the indices of the true entries of a (B,) bool tensor, e.g. ``[0, 3, 7]``."""
    idx = flags.nonzero().flatten().tolist()
    text = ", ".join(str(i) for i in idx[:limit])
    return f"[{text}{', ...' if len(idx) > limit else ''}]"


def _as_pair(tau: float | tuple[float, float] | None) -> tuple[float, float]:
    """Normalise ``tau`` to ``(tau_a, tau_b)``; ``None`` means balanced (``inf, inf``)."""
    if tau is None:
        return math.inf, math.inf
    if isinstance(tau, (tuple, list)):
        if len(tau) != 2:
            raise ConfigError(f"tau must be a float or a pair (tau_a, tau_b), got {tau!r}")
        pair = (float(tau[0]), float(tau[1]))
    else:
        pair = (float(tau), float(tau))
    for t in pair:
        if not t > 0:
            raise ConfigError(f"tau (marginal relaxation, POT's reg_m) must be > 0 or inf, got {tau!r}")
    return pair


# --------------------------------------------------------------------------- solver
def sinkhorn(
    cost: Tensor,
    a: Tensor,
    b: Tensor,
    reg: float,
    *,
    max_iter: int = 1000,
    tol: float = 1e-5,
    tau: float | tuple[float, float] | None = None,
    reg_type: str = "kl",
    grad: str = "envelope",
    method: str = "stabilized",
    check_every: int = 10,
    eps_scaling: bool | None = None,
    warn: bool = True,
) -> SinkhornResult:
    """Solve a batch of (masked) entropic OT problems with log-domain Sinkhorn iterations.

    Parameters
    ----------
    cost : Tensor, shape (B, n, m) or (n, m)
        Cost matrices ``C``. Entries in padded rows/columns are ignored (they may hold anything,
        including NaN). Half precision is computed in float32.
    a : Tensor, shape (B, n) or (n,)
        Row marginals, ``>= 0``; zero entries are padding.
    b : Tensor, shape (B, m) or (m,)
        Column marginals, ``>= 0``; zero entries are padding. For balanced OT every batch
        element must have ``a.sum() == b.sum()``.
    reg : float
        Entropic regularisation ``eps > 0`` in cost units (POT's ``reg``).
    max_iter : int
        Maximum number of iterations (POT's ``numItermax``).
    tol : float
        Stopping threshold on the convergence error (POT's ``stopThr``, but see the module
        docstring: relative L1 marginal violation for balanced OT). Float32 cannot get much
        below ``1e-5`` when ``reg`` is small relative to the cost range.
    tau : float or (float, float) or None
        KL marginal relaxation (POT's ``reg_m``); ``None`` = balanced OT; ``inf`` on one side
        gives semi-relaxed OT.
    reg_type : {"kl", "entropy"}
        Reference measure of the entropic term for unbalanced OT (POT's ``reg_type``, whose
        default is ``"kl"`` since POT 0.9.5). Irrelevant for balanced OT.
    grad : {"envelope", "unrolled"}
        Gradient mode (see the module docstring).
    method : {"stabilized", "log"}
        Inner-loop implementation; both give the same iterates up to rounding.
    check_every : int
        Convergence is checked (and the stabilised kernel rebuilt) every this many iterations.
    eps_scaling : bool or None
        Warm-start by solving with geometrically decreasing ``eps`` (one window of
        ``check_every`` iterations per level, from the cost range down to ``reg``). ``None``
        turns it on when ``reg`` is below 1/100 of the largest cost range in the batch.
    warn : bool
        Emit a :class:`ConvergenceWarning` when some problem does not converge.

    Returns
    -------
    SinkhornResult
        Plan ``(B, n, m)``, cost ``(B,)``, potentials and convergence information.

    Raises
    ------
    NumericalError
        The cost has NaN/Inf at a non-padding entry, a marginal is NaN/Inf, or the output is not
        finite.
    ConfigError
        Invalid shapes or options, negative marginals, or (balanced OT) unequal masses.
    """
    # ---- validate options
    if grad not in ("envelope", "unrolled"):
        raise ConfigError(f"grad must be 'envelope' or 'unrolled', got {grad!r}")
    if method not in ("stabilized", "log"):
        raise ConfigError(f"method must be 'stabilized' or 'log', got {method!r}")
    if reg_type not in ("kl", "entropy"):
        raise ConfigError(f"reg_type must be 'kl' or 'entropy', got {reg_type!r}")
    reg = float(reg)
    if not (reg > 0 and math.isfinite(reg)):
        raise ConfigError(f"reg (entropic regularisation) must be a finite number > 0, got {reg!r}")
    if int(max_iter) < 1 or int(check_every) < 1:
        raise ConfigError(f"max_iter and check_every must be >= 1, got {max_iter!r}, {check_every!r}")
    max_iter, check_every = int(max_iter), int(check_every)
    if not tol >= 0:
        raise ConfigError(f"tol must be >= 0, got {tol!r}")
    tau_a, tau_b = _as_pair(tau)
    balanced = math.isinf(tau_a) and math.isinf(tau_b)

    # ---- shapes and dtypes
    if not isinstance(cost, Tensor) or not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ConfigError("cost, a and b must be torch tensors")
    unbatched = cost.dim() == 2
    if unbatched:
        cost, a, b = cost.unsqueeze(0), a.unsqueeze(0), b.unsqueeze(0)
    if cost.dim() != 3 or a.dim() != 2 or b.dim() != 2:
        raise ConfigError(
            f"expected cost (B, n, m), a (B, n), b (B, m) (or unbatched (n, m), (n,), (m,)); "
            f"got {tuple(cost.shape)}, {tuple(a.shape)}, {tuple(b.shape)}")
    B, n, m = cost.shape
    if a.shape != (B, n) or b.shape != (B, m):
        raise ConfigError(
            f"marginal shapes {tuple(a.shape)}, {tuple(b.shape)} do not match cost {tuple(cost.shape)}")
    if not cost.is_floating_point():
        raise ConfigError(f"cost must be a floating-point tensor, got {cost.dtype}")
    dtype = cost.dtype if cost.dtype in (torch.float32, torch.float64) else torch.float32
    cost = cost.to(dtype)
    a = a.to(device=cost.device, dtype=dtype)
    b = b.to(device=cost.device, dtype=dtype)

    # ---- validate data
    for name, w in (("a", a), ("b", b)):
        if not bool(torch.isfinite(w).all()):
            raise NumericalError(
                f"marginal {name} contains NaN/Inf in batch element(s) "
                f"{_batch_list(~torch.isfinite(w).all(-1))}; check the token weights (e.g. the idf "
                f"table) passed as {name}")
        if bool((w < 0).any()):
            raise ConfigError(
                f"marginal {name} has negative entries in batch element(s) "
                f"{_batch_list((w < 0).any(-1))}; marginals must be >= 0 (0 = padding)")
    row_valid, col_valid = a > 0, b > 0
    if not bool(torch.isfinite(cost.detach().sum())):   # fast path: one reduction
        mask = row_valid[:, :, None] & col_valid[:, None, :]
        bad = mask & ~torch.isfinite(cost.detach())
        if bool(bad.any()):
            raise NumericalError(
                f"cost matrix has NaN/Inf at non-padding entries of batch element(s) "
                f"{_batch_list(bad.flatten(1).any(1))}; check the hidden states fed to the cost "
                f"(NaN embeddings, fp16 overflow: run the encoder in float32 or lower the learning "
                f"rate). Padding entries (zero marginal mass) are ignored.")
        cost = torch.where(mask, cost, torch.zeros((), dtype=dtype, device=cost.device))
    if balanced:
        # masses must agree up to rounding; b is then rescaled to a's mass exactly, so that
        # float32 marginals promoted to float64 (or sums off by an ulp) stay feasible
        sa, sb = a.sum(-1), b.sum(-1)
        rtol = max(1e-6, 100 * torch.finfo(dtype).eps)
        mismatch = (sa - sb).abs() > rtol * torch.maximum(sa, sb)
        if bool(mismatch.any()):
            i = int(mismatch.nonzero()[0])
            raise ConfigError(
                f"balanced OT needs a.sum() == b.sum() (relative tolerance {rtol:.1e}), but they "
                f"differ in batch element(s) {_batch_list(mismatch)} (e.g. element {i}: "
                f"{float(sa[i]):.10g} vs {float(sb[i]):.10g}); normalise the marginals, or use "
                f"unbalanced OT (tau=...)")
        b = b * torch.where(sb > 0, sa / torch.where(sb > 0, sb, torch.ones_like(sb)), 1.0)[:, None]

    # ---- solve
    envelope = grad == "envelope"
    with torch.no_grad() if envelope else torch.enable_grad():
        F, G, plan, batch_err, n_iter = _solve(
            cost.detach() if envelope else cost, a.detach() if envelope else a,
            b.detach() if envelope else b, row_valid, col_valid, reg, tau_a, tau_b,
            reg_type == "kl", balanced, max_iter, tol, method, check_every, eps_scaling)
        f, g = F * (reg * _LN2), G * (reg * _LN2)
    if envelope:
        plan, f, g = plan.detach(), f.detach(), g.detach()
    total = torch.linalg.vecdot(plan.reshape(B, n * m), cost.reshape(B, n * m))

    # ---- output checks (plan >= 0, so a NaN/Inf in it makes <P, C> non-finite)
    finite = torch.isfinite(total.detach())
    if not bool(finite.all()):
        raise NumericalError(
            f"Sinkhorn produced NaN/Inf for batch element(s) {_batch_list(~finite)} "
            f"(reg={reg:g}, dtype={dtype}); increase reg, use float64, or set eps_scaling=True")
    batch_conv = batch_err < tol
    converged = bool(batch_conv.all())
    err = float(batch_err.max()) if B else 0.0
    if not converged and warn:
        what = "relative L1 marginal violation" if balanced else "potential change (log-scaling)"
        warnings.warn(
            f"Sinkhorn did not converge in {max_iter} iterations for "
            f"{int((~batch_conv).sum())}/{B} batch element(s) {_batch_list(~batch_conv)}: "
            f"{what} {err:.3e} > tol={tol:.1e} (reg={reg:g}, {dtype}). Increase max_iter or reg, "
            f"or loosen tol (float32 cannot reach much below 1e-5 when reg is small relative to "
            f"the cost range).", ConvergenceWarning, stacklevel=2)

    if unbatched:
        plan, total, f, g = plan[0], total[0], f[0], g[0]
        batch_err, batch_conv = batch_err[0], batch_conv[0]
    return SinkhornResult(plan=plan, cost=total, n_iter=n_iter, converged=converged, err=err,
                          f=f, g=g, batch_err=batch_err, batch_converged=batch_conv)


def _solve(C, a, b, row_valid, col_valid, reg, tau_a, tau_b, kl_ref, balanced,
           max_iter, tol, method, check_every, eps_scaling):
    """Run the Sinkhorn loop (finite ``C``; padding given by ``a > 0``, ``b > 0``).

    Returns ``(F (B,n), G (B,m), plan (B,n,m), batch_err (B,), n_iter)`` with the potentials
    in base-2 units of ``reg`` (``F = f / (reg ln 2)``), zero at padding.
    """
    B, n, m = C.shape
    dtype, device = C.dtype, C.device
    if B * n * m == 0:                            # nothing to transport
        return (C.new_zeros((B, n)), C.new_zeros((B, m)), C.new_zeros((B, n, m)),
                C.new_zeros((B,)), 0)
    # a row is active when it has mass and its batch element has at least one column with mass
    row_active = row_valid & col_valid.any(-1, keepdim=True)
    col_active = col_valid & row_valid.any(-1, keepdim=True)
    row_pad, col_pad = (~row_active).to(dtype), (~col_active).to(dtype)
    zero = torch.zeros((), dtype=dtype, device=device)
    neg_inf = torch.full((), -math.inf, dtype=dtype, device=device)
    log_a = torch.where(row_active, torch.log2(torch.where(row_active, a, 1 + zero)), zero)
    log_b = torch.where(col_active, torch.log2(torch.where(col_active, b, 1 + zero)), zero)
    lm_row = torch.where(row_active, zero, neg_inf)                  # (B, n): 0 / -inf
    lm_col = torch.where(col_active, zero, neg_inf)                  # (B, m)
    a_mass = a.detach().sum(-1)
    a_mass = torch.where(a_mass > 0, a_mass, 1 + zero)
    fin = torch.finfo(dtype)
    tiny, huge = (1e-30, 1e30) if dtype == torch.float32 else (1e-290, 1e290)
    # largest |log2| of the scalings u, v inside a stabilised window: u K v then never needs
    # kernel entries below the smallest normal number (2^-126 / 2^-1022)
    bound = 40.0 if dtype == torch.float32 else 300.0

    # epsilon schedule
    eps_list = [reg]
    if eps_scaling is None or eps_scaling:
        lo, hi = torch.aminmax(C.detach())
        crange = float(hi - lo)                   # cheap upper bound of the valid range
        if crange > 100.0 * reg or eps_scaling:
            valid = row_active[:, :, None] & col_active[:, None, :]
            crange = float((torch.where(valid, C.detach(), -fin.max).flatten(1).amax(1)
                            - torch.where(valid, C.detach(), fin.max).flatten(1).amin(1))
                           .clamp_min(0).max())
        if eps_scaling or (eps_scaling is None and crange > 100.0 * reg):
            e, levels = crange, []
            while e > 2.0 * reg:
                levels.append(e)
                e *= 0.5
            eps_list = levels + [reg]

    F = torch.zeros((B, n), dtype=dtype, device=device)
    G = torch.zeros((B, m), dtype=dtype, device=device)
    n_iter = 0
    batch_err = torch.full((B,), math.inf, dtype=dtype, device=device)
    ub_err = batch_err
    eps_prev = eps_list[0]
    use_log_next = method == "log"
    reuse = not torch.is_grad_enabled()
    K = None

    for level, eps in enumerate(eps_list):
        final = level == len(eps_list) - 1
        if eps != eps_prev:
            F, G = F * (eps_prev / eps), G * (eps_prev / eps)
            eps_prev = eps
        lam_a, lam_b = _lam(tau_a, eps), _lam(tau_b, eps)
        coef = -1.0 / (eps * _LN2)               # log2 K = C * coef, -inf at padding
        logK = None                              # built only for log-domain windows
        while True:
            # window start: kernel absorbing the current potentials; its row sums give the row
            # marginal of the current plan and the first (exact, log-domain) F update. Without
            # autograd the previous kernel's memory is reused (fresh large buffers are slow).
            K, S, s = _absorb(C, coef, lm_row, lm_col, F, G, row_active, row_pad, tiny, huge,
                              out=K if reuse else None)
            if final:
                with torch.no_grad():
                    if balanced:
                        r = S * torch.exp2(F - s)
                        batch_err = (r - a).abs().sum(-1) / a_mass
                    else:
                        batch_err = ub_err
                if n_iter >= max_iter or bool((batch_err < tol).all()):
                    scale = torch.exp2(F - s)[:, :, None]
                    plan = K.mul_(scale) if reuse else K * scale
                    return F, G, plan, batch_err, n_iter
            elif n_iter >= max_iter:
                break
            F_start, G_start = F, G
            done = False
            if not use_log_next:
                # long window (cheap iterations), convergence still checked every check_every
                k = min(_ABSORB_EVERY if final else check_every, max_iter - n_iter)
                if reuse and final and balanced:
                    F, G, F_prev, G_prev, k_done, early = _window_compact(
                        K, S, s, F, G, log_a, log_b, row_pad, col_pad, k, check_every, a, a_mass, tol)
                else:
                    F, G, F_prev, G_prev, k_done, early = _window_stabilized(
                        K, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k,
                        check_every, (a, a_mass, tol) if final and balanced else None, reuse)
                with torch.no_grad():
                    # u = 2^(F - s) and v = 2^(G - G0) must stay well inside the float range
                    # (a sum that underflowed shows up as a large jump of the next potential)
                    lo_f, hi_f = torch.aminmax(F - s)
                    lo_g, hi_g = torch.aminmax(G - G_start)
                    done = bool((hi_f <= bound) & (hi_g <= bound) & (lo_f > -fin.max) & (lo_g > -fin.max))
                if not done:
                    F, G = F_start, G_start
                    use_log_next = True          # redo this window, and the next, in log domain
                elif early is not None:          # converged inside the window
                    batch_err, plan = early
                    return F, G, plan, batch_err, n_iter + k_done
            else:
                use_log_next = method == "log"
            if not done:
                k_done = min(check_every, max_iter - n_iter)
                if logK is None:
                    logK = (C * coef).add_(lm_row[:, :, None]).add_(lm_col[:, None, :])
                F, G, F_prev, G_prev = _window_log(
                    logK, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k_done)
            n_iter += k_done
            if not balanced:
                with torch.no_grad():
                    ub_err = torch.maximum((F - F_prev).abs().amax(-1),
                                           (G - G_prev).abs().amax(-1)) * _LN2
            if not final:
                break
    raise AssertionError("unreachable")  # pragma: no cover


def _absorb(C, coef, lm_row, lm_col, F, G, row_active, row_pad, tiny, huge, out=None):
    """Kernel ``K_ij = 2^(C_ij coef + G_j + s_i)`` (0 at padding) with a row stabiliser ``s``.

    ``s = F`` (detached) makes ``K`` the current plan, whose row sums are the row marginal;
    when some row sum under- or overflows, ``s = -max_j(C_ij coef + G_j)`` (every row then has
    a largest entry of 1). ``out`` (no autograd) is a ``(B, n, m)`` buffer to write ``K`` into.
    Returns ``(K (B,n,m), S (B,n), s (B,n))``; the exact row LSE is ``log2(S) - s``.
    """
    s = F.detach()
    col = (G + lm_col)[:, None, :]
    row = (s + lm_row)[:, :, None]
    K = (torch.add(row, col, out=out) if out is not None else row + col).add_(C, alpha=coef).exp2_()
    S = K.sum(-1)
    with torch.no_grad():
        ok = bool(((S + row_pad).amin() > tiny) & (S.amax() < huge))   # False on NaN
    if not ok:
        L = (lm_row[:, :, None] + col).add_(C, alpha=coef)
        mx = L.detach().amax(-1)
        s = torch.where(row_active, -mx, torch.zeros_like(mx))
        K = L.add_(s[:, :, None]).exp2_()
        S = K.sum(-1)
    return K, S, s


def _window_stabilized(K, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k,
                       check_every, check, in_place):
    """Up to ``k`` iterations as batched mat-vecs against the absorbed kernel ``K = 2^(logK + G0 + s)``.

    With ``u = 2^(F - s)`` and ``v = 2^(G - G0)`` the log-domain updates
    ``F = c_a - lam log2(K v)`` and ``G = c_b - lam log2(u K)`` become the scaling updates
    ``u = a' (K v)^-lam`` and ``v = b' (u K)^-lam``, so an iteration costs two batched mat-vecs
    and a few vector operations (vectors are kept as ``(B, 1, len)`` rows for ``bmm``). The
    first ``F`` update uses the window-start row sums ``S`` (an exact log-domain update); the
    potentials are recovered from the last sums.

    ``check = (a, a_mass, tol)`` (balanced OT) stops the window early, at a multiple of
    ``check_every`` iterations, once every relative L1 row-marginal violation is below ``tol``.

    Returns ``(F, G, F_prev, G_prev, iterations_done, early)`` where ``early`` is
    ``(batch_err, plan)`` after an early stop and ``None`` otherwise; with ``in_place`` (no
    autograd) that plan overwrites ``K``.
    """
    G0 = G
    KT = K.transpose(1, 2)                        # bmm takes the transposed view without a copy
    c_a = _shift(log_a, s, lam_a, kl_ref)
    c_b = _shift(log_b, G0, lam_b, kl_ref)
    ua = torch.exp2(c_a - s).unsqueeze(1)         # a' (1 at padding, where K's row is 0)
    vb = torch.exp2(c_b - G0).unsqueeze(1)
    rp, cp = row_pad.unsqueeze(1), col_pad.unsqueeze(1)
    S = S.unsqueeze(1)
    S_prev = T_prev = T = u = v = None
    early = None
    done = k
    for it in range(k):
        if it:
            S_new = torch.bmm(v, KT)
            if check is not None and it % check_every == 0:
                with torch.no_grad():             # row marginal of diag(u) K diag(v)
                    err = (u * S_new - check[0].unsqueeze(1)).abs().sum(-1).squeeze(1) / check[1]
                    stop = bool((err < check[2]).all())
                if stop:
                    uT = u.transpose(1, 2)
                    early = (err, K.mul_(uT).mul_(v) if in_place else (K * uT).mul_(v))
                    done = it
                    break
            S_prev, S = S, S_new
        u = ua / (S + rp) if lam_a == 1.0 else ua * (S + rp).pow(-lam_a)
        T_prev = T
        T = torch.bmm(u, K)
        v = vb / (T + cp) if lam_b == 1.0 else vb * (T + cp).pow(-lam_b)
    F_new = _from_sum(c_a, S.squeeze(1), row_pad, lam_a)
    G_new = _from_sum(c_b, T.squeeze(1), col_pad, lam_b)
    F_prev = F if S_prev is None else _from_sum(c_a, S_prev.squeeze(1), row_pad, lam_a)
    G_prev = G if T_prev is None else _from_sum(c_b, T_prev.squeeze(1), col_pad, lam_b)
    return F_new, G_new, F_prev, G_prev, done, early


def _window_compact(K, S, s, F, G, log_a, log_b, row_pad, col_pad, k, check_every, a, a_mass, tol):
    """Balanced, no-autograd variant of :func:`_window_stabilized` that freezes converged problems.

    At every convergence check the batch elements whose relative L1 row-marginal violation is
    below ``tol`` are finished: their plan ``K * u v^T`` is written into their own slot of ``K``
    and they leave the working batch, so the mat-vecs only run over the problems still
    iterating. (If the window ends first, every problem is re-absorbed and goes on.) Returns
    like :func:`_window_stabilized`; with an early stop the plan is ``K`` itself.
    """
    B = K.shape[0]
    G0 = G
    c_a, c_b = log_a + s, log_b + G0              # balanced: F = c_a - log2(K v), G = c_b - log2(u K)
    ua = torch.exp2(c_a - s).unsqueeze(1)
    vb = torch.exp2(c_b - G0).unsqueeze(1)
    rp, cp = row_pad.unsqueeze(1), col_pad.unsqueeze(1)
    a3, mass = a.unsqueeze(1), a_mass
    F_out, G_out = F.clone(), G.clone()
    err_out = torch.full((B,), math.inf, dtype=K.dtype, device=K.device)
    idx = torch.arange(B, device=K.device)
    Kw, Su, T, u, v = K, S.unsqueeze(1), None, None, None
    for it in range(k):
        if it:
            S_new = torch.bmm(v, Kw.transpose(1, 2))
            if it % check_every == 0:
                err = (u * S_new - a3).abs().sum(-1).squeeze(1) / mass
                conv = err < tol
                n_conv = int(conv.sum())
                n_act = idx.numel()
                # finish the converged problems: they stop here, as they would if solved alone
                if n_conv:
                    pos = conv.nonzero().squeeze(1)
                    ic = idx.index_select(0, pos)
                    Fc = c_a.index_select(0, pos) - torch.log2(Su + rp).squeeze(1).index_select(0, pos)
                    Gc = c_b.index_select(0, pos) - torch.log2(T + cp).squeeze(1).index_select(0, pos)
                    F_out.index_copy_(0, ic, Fc)
                    G_out.index_copy_(0, ic, Gc)
                    err_out.index_copy_(0, ic, err.index_select(0, pos))
                    if n_conv == n_act:
                        if Kw is K:
                            K.mul_(u.transpose(1, 2)).mul_(v)          # all done at once: in place
                        else:
                            K.index_copy_(0, idx, Kw.mul_(u.transpose(1, 2)).mul_(v))
                        return F_out, G_out, F_out, G_out, it, (err_out, K)
                    K.index_copy_(0, ic, (Kw.index_select(0, pos) * u.index_select(0, pos).transpose(1, 2))
                                  .mul_(v.index_select(0, pos)))
                    keep = (~conv).nonzero().squeeze(1)
                    idx, Kw, S_new = idx.index_select(0, keep), Kw.index_select(0, keep), S_new.index_select(0, keep)
                    c_a, c_b, ua, vb, rp, cp, a3, mass = (
                        t.index_select(0, keep) for t in (c_a, c_b, ua, vb, rp, cp, a3, mass))
            Su = S_new
        u = ua / (Su + rp)
        T = torch.bmm(u, Kw)
        v = vb / (T + cp)
    F_out.index_copy_(0, idx, c_a - torch.log2(Su + rp).squeeze(1))
    G_out.index_copy_(0, idx, c_b - torch.log2(T + cp).squeeze(1))
    return F_out, G_out, F_out, G_out, k, None


def _window_log(logK, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k):
    """``k`` plain log-domain iterations (masked log-sum-exp over the full kernel)."""
    F_prev = F
    F = _from_sum(_shift(log_a, s, lam_a, kl_ref), S, row_pad, lam_a)
    G_prev = G
    for it in range(k):
        if it:
            F_prev = F
            F = _from_lse(log_a, _masked_lse2(logK + G[:, None, :], -1, row_pad), lam_a, kl_ref)
        G_prev = G
        G = _from_lse(log_b, _masked_lse2(logK + F[:, :, None], -2, col_pad), lam_b, kl_ref)
    return F, G, F_prev, G_prev


# --------------------------------------------------------------------------- costs
class _CosineCost(torch.autograd.Function):
    """``1 - cos(x_i, y_j)`` with a hand-written backward (fewer passes over the states)."""

    @staticmethod
    def forward(ctx, X: Tensor, Y: Tensor, eps: float) -> Tensor:
        nx = torch.linalg.vector_norm(X, dim=-1)
        ny = torch.linalg.vector_norm(Y, dim=-1)
        rx, ry = 1.0 / nx.clamp_min(eps), 1.0 / ny.clamp_min(eps)
        M = torch.matmul(X, Y.transpose(-1, -2))
        # scale the (B, n, m) product rather than the (B, n, h) states, in place where possible
        # (large temporaries are costly: fresh pages from the OS)
        if not any(ctx.needs_input_grad[:2]):
            return M.mul_(rx[..., :, None]).mul_(ry[..., None, :]).neg_().add_(1.0)
        ctx.save_for_backward(X, Y, M, rx, ry, nx > eps, ny > eps)
        return (M * rx[..., :, None]).mul_(ry[..., None, :]).neg_().add_(1.0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        X, Y, M, rx, ry, x_ok, y_ok = ctx.saved_tensors
        gs = (grad * rx[..., :, None]).mul_(ry[..., None, :])   # -(d cost / d M) = rx ry
        prod = gs * M
        gX = gY = None
        # d rx / d X = -X rx^3 (0 where the norm is clamped); d cost / d rx_i = -sum_j g M ry
        if ctx.needs_input_grad[0]:
            cx = torch.where(x_ok, prod.sum(-1) * rx * rx, torch.zeros_like(rx))
            gX = torch.matmul(gs, Y).neg_().addcmul_(X, cx[..., None])
        if ctx.needs_input_grad[1]:
            cy = torch.where(y_ok, prod.sum(-2) * ry * ry, torch.zeros_like(ry))
            gY = torch.matmul(gs.transpose(-1, -2), X).neg_().addcmul_(Y, cy[..., None])
        return gX, gY, None


def cosine_cost(X: Tensor, Y: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine cost ``1 - cos(x_i, y_j)``.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
    Y : Tensor, shape (B, m, h)
    eps : float
        Norm floor; an all-zero vector (e.g. padding) has cosine 0 with everything (cost 1)
        and gets no gradient through its norm.

    Returns
    -------
    Tensor, shape (B, n, m), values in [0, 2] up to rounding; differentiable in ``X`` and ``Y``.
    """
    _check_states(X, Y)
    return _CosineCost.apply(X, Y, float(eps))


def sqeuclidean_cost(X: Tensor, Y: Tensor) -> Tensor:
    """Squared Euclidean cost divided by the hidden size, ``||x_i - y_j||^2 / h``.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
    Y : Tensor, shape (B, m, h)

    Returns
    -------
    Tensor, shape (B, n, m), ``>= 0`` (clamped against cancellation).
    """
    _check_states(X, Y)
    h = X.shape[-1]
    x2 = (X * X).sum(-1)[..., :, None]
    y2 = (Y * Y).sum(-1)[..., None, :]
    xy = torch.matmul(X, Y.transpose(-1, -2))
    return (x2 + y2 - 2.0 * xy).clamp_min(0.0) / h


def _check_states(X: Tensor, Y: Tensor) -> None:
    """Shape check shared by the cost helpers."""
    if X.dim() < 2 or Y.dim() != X.dim() or X.shape[-1] != Y.shape[-1] or X.shape[:-2] != Y.shape[:-2]:
        raise ConfigError(f"expected X (B, n, h) and Y (B, m, h), got {tuple(X.shape)} and {tuple(Y.shape)}")


COSTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "cosine": cosine_cost,
    "sqeuclidean": sqeuclidean_cost,
}


# --------------------------------------------------------------------------- marginals
def uniform_marginals(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform weights over the valid tokens of each sequence.

    Parameters
    ----------
    mask : Tensor, shape (B, n)
        Bool or 0/1 attention mask (1 = real token).
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    Tensor, shape (B, n)
        ``mask / mask.sum(-1)``; all-zero rows stay all zero (fully padded sequence).
    """
    w = (mask != 0).to(dtype)
    return w / w.sum(-1, keepdim=True).clamp_min(1.0)


def idf_marginals(token_ids: Tensor, mask: Tensor, idf_table: Tensor,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """IDF-weighted token marginals, normalised to sum to 1 per sequence.

    Parameters
    ----------
    token_ids : Tensor, shape (B, n), integer
        Token ids (indices into ``idf_table``).
    mask : Tensor, shape (B, n)
        Bool or 0/1 mask (1 = real token); padded tokens get weight 0.
    idf_table : Tensor, shape (V,)
        IDF per vocabulary id. Negative values (BM25-style idf of very common terms) are
        clamped to 0.
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    Tensor, shape (B, n)
        Weights ``>= 0`` summing to 1 over the valid tokens. A sequence whose valid tokens all
        have idf 0 falls back to uniform weights; a fully padded sequence stays all zero.

    Raises
    ------
    ConfigError
        Shapes disagree or a valid token id is outside ``[0, V)``.
    NumericalError
        The idf of a valid token is NaN/Inf.
    """
    if token_ids.shape != mask.shape or token_ids.dim() != 2 or idf_table.dim() != 1:
        raise ConfigError(
            f"expected token_ids (B, n), mask (B, n), idf_table (V,); got {tuple(token_ids.shape)}, "
            f"{tuple(mask.shape)}, {tuple(idf_table.shape)}")
    if token_ids.is_floating_point():
        raise ConfigError(f"token_ids must be an integer tensor, got {token_ids.dtype}")
    valid = mask != 0
    V = idf_table.shape[0]
    out_of_range = valid & ((token_ids < 0) | (token_ids >= V))
    if out_of_range.any():
        raise ConfigError(
            f"token ids outside the idf table (size {V}) in batch element(s) "
            f"{_batch_list(out_of_range.any(-1))}; the idf table must match the tokenizer")
    ids = torch.where(valid, token_ids, torch.zeros_like(token_ids))
    w = idf_table.to(device=ids.device, dtype=dtype)[ids]
    if not torch.isfinite(torch.where(valid, w, torch.zeros_like(w))).all():
        raise NumericalError("idf table has NaN/Inf for a token in use; rebuild the idf table")
    w = torch.where(valid, w.clamp_min(0.0), torch.zeros_like(w))
    total = w.sum(-1, keepdim=True)
    uniform = uniform_marginals(valid, dtype)
    return torch.where(total > 0, w / torch.where(total > 0, total, torch.ones_like(total)), uniform)


# --------------------------------------------------------------------------- loss
def ot_loss(
    X: Tensor,
    Y: Tensor,
    x_mask: Tensor,
    y_mask: Tensor,
    reg: float = 0.05,
    cost: str | Callable[[Tensor, Tensor], Tensor] = "cosine",
    unbalanced_tau: float | tuple[float, float] | None = None,
    grad: str = "envelope",
    a: Tensor | None = None,
    b: Tensor | None = None,
    **sinkhorn_kwargs,
) -> tuple[Tensor, SinkhornResult]:
    """OT distillation loss ``<P*, C(X, Y)>`` between two batches of token states.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
        Token states of one side (e.g. the student's), padded.
    Y : Tensor, shape (B, m, h)
        Token states of the other side (e.g. the teacher's), padded.
    x_mask : Tensor, shape (B, n)
        Bool or 0/1 mask of real tokens in ``X``.
    y_mask : Tensor, shape (B, m)
        Bool or 0/1 mask of real tokens in ``Y``.
    reg : float
        Entropic regularisation in cost units.
    cost : {"cosine", "sqeuclidean"} or callable
        Cost function ``(X, Y) -> (B, n, m)``.
    unbalanced_tau : float or (float, float) or None
        KL marginal relaxation (POT's ``reg_m``); ``None`` = balanced OT.
    grad : {"envelope", "unrolled"}
        Gradient mode of :func:`sinkhorn`.
    a, b : Tensor, shape (B, n) / (B, m), optional
        Token weights (e.g. :func:`idf_marginals`); default uniform over the mask. They are
        multiplied by the mask, so padded tokens never carry mass.
    **sinkhorn_kwargs
        Passed to :func:`sinkhorn` (``max_iter``, ``tol``, ``method``, ...).

    Returns
    -------
    loss : Tensor, shape (B,)
        ``<P*, C>`` per pair, differentiable with respect to ``X`` and ``Y``.
    result : SinkhornResult
    """
    if isinstance(cost, str):
        if cost not in COSTS:
            raise ConfigError(f"unknown cost {cost!r}; choose one of {sorted(COSTS)} or pass a callable")
        cost_fn = COSTS[cost]
    else:
        cost_fn = cost
    if x_mask.shape != X.shape[:-1] or y_mask.shape != Y.shape[:-1]:
        raise ConfigError(
            f"masks {tuple(x_mask.shape)}, {tuple(y_mask.shape)} do not match states "
            f"{tuple(X.shape)}, {tuple(Y.shape)}")
    C = cost_fn(X, Y)
    dtype = C.dtype if C.dtype in (torch.float32, torch.float64) else torch.float32
    xm, ym = (x_mask != 0).to(dtype), (y_mask != 0).to(dtype)
    a = uniform_marginals(x_mask, dtype) if a is None else a.to(dtype) * xm
    b = uniform_marginals(y_mask, dtype) if b is None else b.to(dtype) * ym
    result = sinkhorn(C, a, b, reg, tau=unbalanced_tau, grad=grad, **sinkhorn_kwargs)
    return result.cost, result
