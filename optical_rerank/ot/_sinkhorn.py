"""The batched, masked log-domain Sinkhorn solver (:func:`sinkhorn`) and its result type."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from ..errors import ConfigError, NumericalError
from ._kernels import _ABSORB_EVERY, _LN2, _absorb, _lam, _window_compact, _window_log, _window_stabilized

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
        Largest convergence error over the batch (defined in :mod:`optical_rerank.ot`).
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
        Stopping threshold on the convergence error (POT's ``stopThr``, but see
        :mod:`optical_rerank.ot`: relative L1 marginal violation for balanced OT). Float32 cannot get much
        below ``1e-5`` when ``reg`` is small relative to the cost range.
    tau : float or (float, float) or None
        KL marginal relaxation (POT's ``reg_m``); ``None`` = balanced OT; ``inf`` on one side
        gives semi-relaxed OT.
    reg_type : {"kl", "entropy"}
        Reference measure of the entropic term for unbalanced OT (POT's ``reg_type``, whose
        default is ``"kl"`` since POT 0.9.5). Irrelevant for balanced OT.
    grad : {"envelope", "unrolled"}
        Gradient mode (see :mod:`optical_rerank.ot`).
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
