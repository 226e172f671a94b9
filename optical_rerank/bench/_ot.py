"""``bench ot``: the batched Sinkhorn of :mod:`optical_rerank.ot` against a per-pair POT loop.

The per-pair loop is what a user would otherwise write with POT (``ot.sinkhorn(a, b, M, reg,
method="sinkhorn_log")`` on torch tensors, one pair at a time), on a batch of token-state pairs
with the cosine cost: the solver alone (given cost matrices) and end to end (from the states),
forward and forward + backward (POT's torch backend back-propagates through its iterations).
See :func:`benchmark_ot`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable

from ..guard import check_number

__all__ = ["benchmark_ot", "format_ot_report", "add_arguments", "report"]


def _make_states(batch: int, min_len: int, max_len: int, dim: int, seed: int, dtype):
    """Synthetic token states with the geometry of encoder outputs.

    All tokens share a common direction (anisotropy: mean pairwise cosine ~0.5), and part of
    the second side's tokens are noisy copies of the first side's (aligned translations).

    Returns
    -------
    xs : list of Tensor (n_i, dim); ys : list of Tensor (m_i, dim)
    """
    import torch  # heavy

    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(dim, generator=gen, dtype=torch.float64)
    xs, ys = [], []
    for _ in range(batch):
        n = int(torch.randint(min_len, max_len + 1, (1,), generator=gen))
        m = int(torch.randint(min_len, max_len + 1, (1,), generator=gen))
        x = mu + torch.randn(n, dim, generator=gen, dtype=torch.float64)
        y = mu + torch.randn(m, dim, generator=gen, dtype=torch.float64)
        k = min(n, m) // 2
        src = torch.randperm(n, generator=gen)[:k]
        y[:k] = mu + 0.8 * (x[src] - mu) + 0.6 * torch.randn(k, dim, generator=gen, dtype=torch.float64)
        xs.append(x.to(dtype))
        ys.append(y.to(dtype))
    return xs, ys


def _pad(seqs, dtype):
    """Stack variable-length ``(len, dim)`` tensors into ``(B, max_len, dim)`` plus a bool mask."""
    import torch  # heavy

    B, L, d = len(seqs), max(s.shape[0] for s in seqs), seqs[0].shape[1]
    out = torch.zeros(B, L, d, dtype=dtype)
    mask = torch.zeros(B, L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return out, mask


def _median_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
                  ) -> dict[str, tuple[float, float]]:
    """Median (wall, thread CPU) seconds of each function over ``repeats`` interleaved rounds.

    The functions are run round-robin, so a burst of load from other processes on a shared
    machine hits all of them alike; the thread CPU time (``time.thread_time``, meaningful with
    one torch thread) does not count the time the process waits for a core.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            cpu[k].append(time.thread_time() - c0)
            wall[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def benchmark_ot(
    batch: int = 32,
    min_len: int = 16,
    max_len: int = 64,
    dim: int = 384,
    reg: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-5,
    repeats: int = 7,
    seed: int = 0,
    threads: int = 1,
    dtype: str = "float32",
) -> dict:
    """Time the batched solver against a per-pair POT loop on the same problems.

    Both solve balanced entropic OT between uniform token weights with the cosine cost, with the
    same ``reg``, ``max_iter`` and ``tol``; the loss per pair is ``<P, C>``. Two settings:

    * *solver*: the cost matrices are given (the padded ``(B, n, m)`` tensor for ours, its
      unpadded ``(n_i, m_i)`` blocks for POT); backward = gradient with respect to them.
    * *end to end*: from the token states (cosine cost, then OT); backward = gradient with
      respect to the states.

    POT's stopping rule is the L2 norm of the column-marginal violation, ours the L1 norm of the
    row-marginal violation (>= the L2 norm, so ours is the stricter); both check every 10
    iterations.

    Parameters
    ----------
    batch, min_len, max_len, dim : int
        ``batch`` pairs whose lengths are drawn uniformly from ``[min_len, max_len]``, with
        ``dim``-dimensional states.
    reg, max_iter, tol : float, int, float
        Sinkhorn settings shared by both solvers.
    repeats : int
        Timed rounds (medians are reported) after one warm-up round; the variants run
        round-robin within a round.
    seed : int
        Seed of the synthetic states.
    threads : int
        ``torch.set_num_threads`` for the run.
    dtype : {"float32", "float64"}

    Returns
    -------
    dict
        ``settings``; ``rows``: one dict per timed comparison (``name``, ``ours``/``pot`` wall
        and thread-CPU medians in seconds, ``ratio``, ``ratio_cpu``); accuracy (objective and
        gradient differences) and iteration counts.
    """
    import ot as pot  # heavy
    import torch  # heavy

    from ..ot import ConvergenceWarning, cosine_cost, ot_loss, sinkhorn, uniform_marginals  # heavy

    torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    xs, ys = _make_states(batch, min_len, max_len, dim, seed, tdtype)
    Xp, xm = _pad(xs, tdtype)
    Yp, ym = _pad(ys, tdtype)
    ap, bp = uniform_marginals(xm, tdtype), uniform_marginals(ym, tdtype)
    lens = [(x.shape[0], y.shape[0]) for x, y in zip(xs, ys)]
    with torch.no_grad():
        Cp = cosine_cost(Xp, Yp)                                   # (B, n, m), padded
    Ms = [Cp[i, :n, :m].clone() for i, (n, m) in enumerate(lens)]  # the same values per pair
    kw = {"max_iter": max_iter, "tol": tol}

    def pot_pair(M):
        n, m = M.shape
        a = torch.full((n,), 1.0 / n, dtype=tdtype)
        b = torch.full((m,), 1.0 / m, dtype=tdtype)
        P, log = pot.sinkhorn(a, b, M, reg, method="sinkhorn_log", numItermax=max_iter,
                              stopThr=tol, log=True)
        return (P * M).sum(), int(log["niter"]) + 1

    def pot_solver(requires_grad: bool):
        Mg = [M.detach().requires_grad_(requires_grad) for M in Ms]
        losses, iters = zip(*(pot_pair(M) for M in Mg))
        loss = torch.stack(losses)
        if requires_grad:
            loss.sum().backward()
        return loss, list(iters), ([M.grad for M in Mg] if requires_grad else None)

    def pot_e2e(requires_grad: bool):
        losses = []
        for x, y in zip(xs, ys):
            x = x.detach().requires_grad_(requires_grad)
            y = y.detach().requires_grad_(requires_grad)
            losses.append(pot_pair(cosine_cost(x[None], y[None])[0])[0])
        loss = torch.stack(losses)
        if requires_grad:
            loss.sum().backward()
        return loss

    def ours_solver(requires_grad: bool, grad: str):
        C = Cp.detach().requires_grad_(requires_grad)
        res = sinkhorn(C, ap, bp, reg, grad=grad, **kw)
        if requires_grad:
            res.cost.sum().backward()
        return res.cost, res, (C.grad if requires_grad else None)

    def ours_e2e(requires_grad: bool, grad: str):
        X = Xp.detach().requires_grad_(requires_grad)
        Y = Yp.detach().requires_grad_(requires_grad)
        loss, _ = ot_loss(X, Y, xm, ym, reg=reg, cost="cosine", grad=grad, **kw)
        if requires_grad:
            loss.sum().backward()
        return loss

    # accuracy and iteration counts (untimed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pot_loss, pot_iters, _ = pot_solver(False)
        our_loss, our_res, _ = ours_solver(False, "envelope")
        _, _, pot_grads = pot_solver(True)
        _, our_res_u, our_grad_u = ours_solver(True, "unrolled")
        e2e_diff = float((ours_e2e(False, "envelope").double() - pot_e2e(False).double()).abs().max())
    n_pot_warn = sum(1 for w in caught if "did not converge" in str(w.message)
                     and not issubclass(w.category, ConvergenceWarning))
    n_our_warn = sum(1 for w in caught if issubclass(w.category, ConvergenceWarning))
    grad_diff = max(float((our_grad_u[i, :n, :m] - g).abs().max()) for i, ((n, m), g)
                    in enumerate(zip(lens, pot_grads)))
    grad_scale = max(float(g.abs().max()) for g in pot_grads)

    variants = {
        "ours_solver_fwd": lambda: ours_solver(False, "envelope"),
        "pot_solver_fwd": lambda: pot_solver(False),
        "ours_solver_bwd_env": lambda: ours_solver(True, "envelope"),
        "ours_solver_bwd_unr": lambda: ours_solver(True, "unrolled"),
        "pot_solver_bwd": lambda: pot_solver(True),
        "ours_e2e_fwd": lambda: ours_e2e(False, "envelope"),
        "pot_e2e_fwd": lambda: pot_e2e(False),
        "ours_e2e_bwd_env": lambda: ours_e2e(True, "envelope"),
        "ours_e2e_bwd_unr": lambda: ours_e2e(True, "unrolled"),
        "pot_e2e_bwd": lambda: pot_e2e(True),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timed = _median_times(variants, repeats)
    rows = []
    for name, ours_key, pot_key in (
            ("solver forward", "ours_solver_fwd", "pot_solver_fwd"),
            ("solver fwd+bwd, envelope", "ours_solver_bwd_env", "pot_solver_bwd"),
            ("solver fwd+bwd, unrolled", "ours_solver_bwd_unr", "pot_solver_bwd"),
            ("end-to-end forward", "ours_e2e_fwd", "pot_e2e_fwd"),
            ("end-to-end fwd+bwd, envelope", "ours_e2e_bwd_env", "pot_e2e_bwd"),
            ("end-to-end fwd+bwd, unrolled", "ours_e2e_bwd_unr", "pot_e2e_bwd")):
        (ow, oc), (pw, pc) = timed[ours_key], timed[pot_key]
        rows.append({"name": name, "ours": ow, "pot": pw, "ratio": pw / ow, "ours_cpu": oc,
                     "pot_cpu": pc, "ratio_cpu": pc / oc})
    return {
        "settings": {"batch": batch, "min_len": min_len, "max_len": max_len, "dim": dim, "reg": reg,
                     "max_iter": max_iter, "tol": tol, "repeats": repeats, "seed": seed,
                     "threads": threads, "dtype": dtype, "torch": torch.__version__,
                     "pot": pot.__version__, "padded_shape": tuple(Cp.shape),
                     "cpus": os.cpu_count(), "load": (load_before, os.getloadavg()[0])},
        "rows": rows,
        "max_abs_objective_diff": float((our_loss.double() - pot_loss.double()).abs().max()),
        "max_abs_objective_diff_e2e": e2e_diff,
        "objective_range": (float(pot_loss.min()), float(pot_loss.max())),
        "max_abs_grad_diff_unrolled": grad_diff,
        "max_abs_grad": grad_scale,
        "ours_n_iter": our_res.n_iter,
        "ours_unrolled_n_iter": our_res_u.n_iter,
        "ours_err": our_res.err,
        "pot_n_iter": (min(pot_iters), statistics.median(pot_iters), max(pot_iters), sum(pot_iters)),
        "pot_convergence_warnings": n_pot_warn,
        "ours_convergence_warnings": n_our_warn,
    }


def format_ot_report(r: dict) -> str:
    """Human-readable report of :func:`benchmark_ot`'s result."""
    s = r["settings"]
    fwd = r["rows"][0]
    ok = fwd["ratio"] >= 10 and r["max_abs_objective_diff"] <= 1e-4
    ok_cpu = fwd["ratio_cpu"] >= 10 and r["max_abs_objective_diff"] <= 1e-4
    lines = [
        "OT benchmark: batched masked log-domain Sinkhorn (optical_rerank.ot) vs a per-pair POT loop",
        (f"  problems : B={s['batch']} pairs, n,m ~ U[{s['min_len']},{s['max_len']}] (padded to "
        f"{s['padded_shape'][1]}x{s['padded_shape'][2]}), d={s['dim']} states, cosine cost, uniform "
        f"token weights, {s['dtype']}"),
        (f"  settings : reg={s['reg']}, max_iter={s['max_iter']}, tol={s['tol']} for both; "
        f"threads={s['threads']}; torch {s['torch']}, POT {s['pot']}"),
        ("  POT      : for each pair: P = ot.sinkhorn(a, b, M, reg, method='sinkhorn_log', "
        "numItermax=max_iter, stopThr=tol) on torch tensors, loss (P * M).sum(); backward = "
        "autograd through POT's iterations"),
        ("  ours     : solver = sinkhorn(C, a, b, reg, max_iter=, tol=, grad=) on the padded batch; "
        "end-to-end = ot_loss(X, Y, x_mask, y_mask, reg, cost='cosine', ...)"),
        (f"  timing   : median of {s['repeats']} rounds (variants interleaved; wall clock and this "
        "thread's CPU time, the latter robust to other load on a shared machine)"),
        (f"  machine  : {s['cpus']} CPUs, 1-min load average {s['load'][0]:.2f} before / "
         f"{s['load'][1]:.2f} after the run"),
        "",
        (f"  {'':30s}{'ours wall':>10s}{'POT wall':>10s}{'ratio':>8s}{'ours cpu':>10s}"
        f"{'POT cpu':>10s}{'ratio':>8s}"),
    ]
    for row in r["rows"]:
        lines.append(f"  {row['name']:30s}{row['ours']:10.4f}{row['pot']:10.4f}{row['ratio']:7.1f}x"
                     f"{row['ours_cpu']:10.4f}{row['pot_cpu']:10.4f}{row['ratio_cpu']:7.1f}x")
    pi = r["pot_n_iter"]
    lines += [
        "",
        (f"  max |objective ours - POT| : solver {r['max_abs_objective_diff']:.2e}, end-to-end "
        f"{r['max_abs_objective_diff_e2e']:.2e} (objectives in [{r['objective_range'][0]:.4f}, "
        f"{r['objective_range'][1]:.4f}])"),
        (f"  max |d loss/d C, ours unrolled - POT autograd| : {r['max_abs_grad_diff_unrolled']:.2e} "
        f"(max |gradient| {r['max_abs_grad']:.2e})"),
        (f"  iterations : ours {r['ours_n_iter']} for the whole batch (final L1 marginal error "
        f"{r['ours_err']:.2e}); POT per pair min/median/max {pi[0]}/{pi[1]:g}/{pi[2]}, "
        f"{pi[3]} in all"),
        f"  convergence warnings : ours {r['ours_convergence_warnings']}, POT {r['pot_convergence_warnings']}",
        (f"  goal (solver forward >= 10x at <= 1e-4 objective difference): wall clock "
         f"{'met' if ok else 'NOT met'}, CPU time {'met' if ok_cpu else 'NOT met'}"),
    ]
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the ``ot`` subcommand."""
    p.add_argument("--batch", type=int, default=32, help="pairs per batch (default 32)")
    p.add_argument("--min-len", type=int, default=16, help="shortest sequence (default 16)")
    p.add_argument("--max-len", type=int, default=64, help="longest sequence (default 64)")
    p.add_argument("--dim", type=int, default=384, help="hidden size (default 384)")
    p.add_argument("--reg", type=float, default=0.05, help="entropic regularisation (default 0.05)")
    p.add_argument("--max-iter", type=int, default=1000, help="Sinkhorn iteration cap (default 1000)")
    p.add_argument("--tol", type=float, default=1e-5, help="stopping threshold (default 1e-5)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds, medians reported (default 7)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")


def report(args: argparse.Namespace) -> str:
    """Entry point of ``bench ot``: run :func:`benchmark_ot` and return its report."""
    for name in ("batch", "min_len", "dim", "max_iter", "repeats", "threads"):  # before any work: one line each
        check_number(f"--{name.replace('_', '-')}", getattr(args, name), minimum=1)
    check_number("--max-len", args.max_len, minimum=args.min_len)
    check_number("--reg", args.reg, minimum=0, exclusive_minimum=True)
    check_number("--tol", args.tol, minimum=0, exclusive_minimum=True)
    result = benchmark_ot(batch=args.batch, min_len=args.min_len, max_len=args.max_len, dim=args.dim,
                          reg=args.reg, max_iter=args.max_iter, tol=args.tol, repeats=args.repeats,
                          seed=args.seed, threads=args.threads, dtype=args.dtype)
    return format_ot_report(result)
