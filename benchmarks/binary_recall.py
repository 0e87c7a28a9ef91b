"""Binary asynchronous recall: ``hg.memory.recall_binary`` against plain numpy loops.

The workload of the issue: 1000 ±1 probes, N = 500 neurons, 20 asynchronous sweeps (one
neuron at a time in the documented permutation per sweep). To make every probe run all 20
sweeps, the weights are random and asymmetric (no fixed points); a second row stores
α = 0.1 Hebbian patterns and recalls them from 10 % flips (stops after a few sweeps).

Compared:

* ``hg.memory.recall_binary``: one compiled ``lax.while_loop`` (first call = compile + run,
  then the median of ``--rounds`` runs);
* numpy, batched: the same algorithm, one neuron at a time for all probes at once
  (``h = W[i] @ S``), a Python loop over sweeps and neurons;
* numpy, per probe: the plain loop of the ``recall_binary`` docstring (a Python loop over
  probes, sweeps and neurons), timed on ``--per-probe`` probes and scaled to all of them.

Both numpy loops use the documented tie band, and their states are compared with the
library's (bit-equal expected).

Run: ``python benchmarks/binary_recall.py [--probes 1000] [--N 500] [--sweeps 20]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import numpy as np

import hamux_graph as hg


def ties(W):
    """The documented tie band of ``recall_binary``: ``N·ε·Σ_j |W_ij|``."""
    return W.shape[1] * np.finfo(W.dtype).eps * np.abs(W).sum(axis=1)


def numpy_batched(W, S0, perms):
    S = S0.T.copy()  # (N, B): neuron-major, like the library
    tie = ties(W)
    for perm in perms:
        for i in perm:
            h = W[i] @ S
            S[i] = np.where(h > tie[i], 1.0, np.where(h < -tie[i], -1.0, S[i]))
    return S.T


def numpy_per_probe(W, S0, perms):
    out = S0.copy()
    tie = ties(W)
    for s in out:
        for perm in perms:
            changed = False
            for i in perm:
                h = W[i] @ s
                new = 1.0 if h > tie[i] else -1.0 if h < -tie[i] else s[i]
                if new != s[i]:
                    s[i] = new
                    changed = True
            if not changed:
                break
    return out


def timed(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probes", type=int, default=1000)
    p.add_argument("--N", type=int, default=500)
    p.add_argument("--sweeps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--per-probe", type=int, default=20, help="probes timed in the per-probe Python loop")
    args = p.parse_args(argv)
    N, B, T = args.N, args.probes, args.sweeps
    rng = np.random.default_rng(0)
    key = jax.random.key(0)
    perms = [np.asarray(jax.random.permutation(jax.random.fold_in(key, t), N)) for t in range(T)]
    print(
        f"{platform.machine()}, {jax.devices()[0].platform}, jax {jax.__version__}; {B} probes, N = {N}, "
        f"up to {T} sweeps"
    )

    # 1. asymmetric random weights: every probe runs all T sweeps
    W = (rng.normal(size=(N, N)) / np.sqrt(N)).astype(np.float32)
    np.fill_diagonal(W, 0.0)
    S0 = np.where(rng.random((B, N)) < 0.5, 1.0, -1.0).astype(np.float32)

    def run_hg():
        out = hg.memory.recall_binary(W, S0, key=key, max_sweeps=T)
        out.states.block_until_ready()
        return out

    t0 = time.perf_counter()
    out = run_hg()
    first = time.perf_counter() - t0
    t_hg, out = timed(run_hg, args.rounds)
    t_np, S_np = timed(lambda: numpy_batched(W, S0, perms), 1)
    k = min(args.per_probe, B)
    t_pp, S_pp = timed(lambda: numpy_per_probe(W, S0[:k], perms), 1)
    t_pp_all = t_pp * B / k
    hg_states = np.asarray(out.states)
    same = int(np.all(hg_states == S_np, axis=1).sum())
    same_pp = int(np.all(hg_states[:k] == S_pp, axis=1).sum())
    print(f"\nasymmetric random W (sweeps run: min {int(out.sweeps.min())}, max {int(out.sweeps.max())}):")
    print(f"  hg.memory.recall_binary  {t_hg:8.3f} s   (first call incl. compile {first:.2f} s)")
    print(f"  numpy, batched over probes {t_np:6.3f} s   ({t_np / t_hg:.1f}x; {same}/{B} probes bit-equal)")
    print(
        f"  numpy, per probe         {t_pp_all:8.2f} s   (measured on {k} probes, scaled; {t_pp_all / t_hg:.0f}x; "
        f"{same_pp}/{k} bit-equal)"
    )

    # 2. Hebbian memory at alpha = 0.1, recall from 10 % flips (stops at the fixed points)
    P = np.where(rng.random((int(0.1 * N), N)) < 0.5, 1.0, -1.0).astype(np.float32)
    Wh = np.asarray(hg.memory.hebbian(P))
    targets = P[rng.integers(0, len(P), B)]
    probes = np.asarray(hg.memory.corrupt(targets, 0.1, key=jax.random.key(1)))

    def run_hebb():
        o = hg.memory.recall_binary(Wh, probes, key=key, max_sweeps=T)
        o.states.block_until_ready()
        return o

    run_hebb()
    t_h, o = timed(run_hebb, args.rounds)
    t_hn, S_hn = timed(lambda: numpy_batched(Wh, probes, perms), 1)
    exact = float(np.all(np.asarray(o.states) == targets, axis=1).mean())
    print(
        f"\nHebbian, alpha = 0.1, 10 % flips (sweeps that changed a probe: max {int(o.sweeps.max())}; "
        f"exact recall {exact:.3f}):"
    )
    print(f"  hg.memory.recall_binary  {t_h:8.3f} s   (stops when no probe changes)")
    print(
        f"  numpy, batched, {T} sweeps {t_hn:6.3f} s   "
        f"({int(np.all(np.asarray(o.states) == S_hn, axis=1).sum())}/{B} probes bit-equal)"
    )


if __name__ == "__main__":
    main()
