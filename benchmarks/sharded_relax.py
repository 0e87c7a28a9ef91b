"""Retrieval from a sharded memory: ``relax`` over K stored patterns split across devices.

A modern Hopfield memory (``hg.zoo.modern_hopfield``: an identity ``visible`` layer of
N units, a softmax ``memories`` layer of K units, the patterns ``W`` of shape (N, K)) is
created directly on a mesh with its K axis over ``--devices`` devices
(``compile(key=..., mesh=make_mesh(data=1, model=D))``: ``W`` is never whole on one
device), probes are laid out with ``shard_states`` (the (B, K) memories state split along
K too), and ``model.relax`` runs a fixed number of Euler steps (``tol=0``, so no sample
stops early; ``trace=False``). The reference is hand-written JAX doing the same Euler
steps with the same shardings (a ``lax.while_loop`` with per-sample freezing, jitted).

Protocol (as in benchmarks/run.py): rounds alternate the order of the two implementations;
the times are medians over rounds and the ratio is the median of the per-round ratios. It
also reports the bytes each device holds of the parameters and of the memory-axis states
(summed over the arrays' addressable shards), against the unsharded size.

On CPU the devices are forced host devices (``--xla_force_host_platform_device_count``,
set here before jax is imported); on a machine with accelerators pass ``--platform gpu``.

Run: ``python benchmarks/sharded_relax.py [--log2k 20] [--n 128] [--devices 4] [--batch 4]
[--steps 10] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log2k", type=int, nargs="+", default=[20], help="log2 of the number of stored patterns K")
    p.add_argument("--n", type=int, default=128, help="pattern size N")
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--batch", type=int, default=4, help="probes retrieved at once")
    p.add_argument("--steps", type=int, default=10, help="Euler steps of each relax")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--platform", default="cpu", help="cpu (forced host devices) or gpu")
    return p.parse_args(argv)


ARGS = parse()
if ARGS.platform == "cpu":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={ARGS.devices}"
    ).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

import hamux_graph as hg  # noqa: E402
from hamux_graph import parallel  # noqa: E402


DT = 0.05


def hand_written(mesh, beta: float, tau_v: float, tau_m: float, steps: int):
    """The same Euler steps of the modern Hopfield energy, written directly (jitted).

    ``E = ½|x_v|² + Σ_k g_k x_k − logsumexp(β x_m)/β − x_vᵀ W softmax(β x_m)``, so
    ``∂E/∂g_v = x_v − W g_m`` and ``∂E/∂g_m = x_m − Wᵀ x_v``; a sample stops once the RMS of
    both is ``<= tol``. Written per sample and vmapped (matrix-vector products), the fastest
    of the variants tried on CPU: batched ``(B, K) x (K, N)`` einsums, sharding constraints
    inside the loop, or ``where`` instead of a 0/1 factor were slower (up to 2x).
    """
    w_sh = NamedSharding(mesh, P(None, "model"))
    m_sh = NamedSharding(mesh, P(None, "model"))
    v_sh = NamedSharding(mesh, P())

    def relax(W, xv, xm, tol):
        def grads(xv, xm):  # one sample
            gm = jax.nn.softmax(beta * xm)  # (K,), split along K
            d_v = xv - W @ gm  # identity layer: g_v = x_v
            d_m = xm - xv @ W
            return d_v, d_m, jnp.sqrt((jnp.sum(d_v**2) + jnp.sum(d_m**2)) / (d_v.size + d_m.size))

        def body(c):
            i, xv, xm, done = c
            d_v, d_m, rms = jax.vmap(grads)(xv, xm)
            done = done | (rms <= tol)
            go = (~done[:, None]).astype(xv.dtype)
            return i + 1, xv - go * (DT / tau_v) * d_v, xm - go * (DT / tau_m) * d_m, done

        def cond(c):
            return (c[0] < steps) & ~jnp.all(c[3])

        _, xv, xm, _ = jax.lax.while_loop(cond, body, (0, xv, xm, jnp.zeros(xv.shape[:1], bool)))
        return xv, xm

    return jax.jit(relax, in_shardings=(w_sh, v_sh, m_sh, None), out_shardings=(v_sh, m_sh))


def device_bytes(arrays) -> dict:
    per = {}
    for a in arrays:
        for s in a.addressable_shards:
            per[s.device.id] = per.get(s.device.id, 0) + s.data.nbytes
    return per


def timed(fn):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


def bench(log2k: int) -> dict:
    N, K, B, D = ARGS.n, 2**log2k, ARGS.batch, ARGS.devices
    mesh = parallel.make_mesh(data=1, model=D)
    ham = hg.zoo.modern_hopfield(input_shape=(N,), num_memories=K, beta=4.0 / np.sqrt(N))
    t = time.perf_counter()
    model = ham.compile(key=jax.random.key(0), mesh=mesh)  # W created split along K: never whole
    jax.block_until_ready(model.synapse("store").W)
    t_create = time.perf_counter() - t
    W = model.synapse("store").W
    xs = model.init_states(batch_size=B)
    xs["visible"] = jax.random.normal(jax.random.key(1), (B, N))
    xs = parallel.shard_states(model, xs, mesh)
    beta = float(model.lagrangians[1].beta)
    tau_v, tau_m = model.taus
    hand = hand_written(mesh, beta, tau_v, tau_m, ARGS.steps)

    def run_hg():
        return model.relax(xs, tol=0.0, max_steps=ARGS.steps, dt=DT, throw=False, trace=False).states

    def run_hand():
        return hand(W, xs["visible"], xs["memories"], 0.0)

    out_hg, (hv, hm) = run_hg(), run_hand()  # compile both
    gap = max(float(jnp.max(jnp.abs(out_hg["visible"] - hv))), float(jnp.max(jnp.abs(out_hg["memories"] - hm))))
    t_hg, t_hand, ratios = [], [], []
    for r in range(ARGS.rounds):
        pair = (run_hg, run_hand) if r % 2 == 0 else (run_hand, run_hg)
        ta, tb = timed(pair[0]), timed(pair[1])
        th, tr = (ta, tb) if r % 2 == 0 else (tb, ta)
        t_hg.append(th)
        t_hand.append(tr)
        ratios.append(th / tr)
    params = [a for a in jax.tree.leaves(model) if isinstance(a, jax.Array)]
    p_dev = device_bytes(params)
    p_total = sum(a.nbytes for a in params)
    s_dev = device_bytes([xs["memories"], out_hg["memories"]])
    s_total = xs["memories"].nbytes + out_hg["memories"].nbytes
    return {
        "K": K,
        "N": N,
        "B": B,
        "devices": D,
        "steps": ARGS.steps,
        "create_s": t_create,
        "hg_s": statistics.median(t_hg),
        "hand_s": statistics.median(t_hand),
        "ratio": statistics.median(ratios),
        "gap": gap,
        "param_bytes_total": p_total,
        "param_bytes_per_device": max(p_dev.values()),
        "state_bytes_total": s_total,
        "state_bytes_per_device": max(s_dev.values()),
        "w_shard": tuple(W.addressable_shards[0].data.shape),
    }


def main() -> None:
    dev = jax.devices()
    print(
        f"jax {jax.__version__}, {len(dev)} x {dev[0].device_kind} ({jax.default_backend()}); N={ARGS.n}, "
        f"batch {ARGS.batch}, {ARGS.steps} Euler steps per relax, {ARGS.rounds} alternating rounds"
    )
    print(
        "| K | W shard per device | create W (s) | relax hg (s) | hand-written (s) | time ratio | max |diff| | "
        "param MiB total / per device | memory-state MiB total / per device |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for log2k in ARGS.log2k:
        r = bench(log2k)
        mib = 2.0**20
        print(
            f"| 2^{log2k} = {r['K']} | {r['w_shard']} | {r['create_s']:.2f} | {r['hg_s']:.3f} | {r['hand_s']:.3f} | "
            f"**{r['ratio']:.3f}** | {r['gap']:.1e} | {r['param_bytes_total'] / mib:.1f} / "
            f"{r['param_bytes_per_device'] / mib:.1f} ({r['param_bytes_per_device'] / r['param_bytes_total']:.3f}) | "
            f"{r['state_bytes_total'] / mib:.1f} / {r['state_bytes_per_device'] / mib:.1f} "
            f"({r['state_bytes_per_device'] / r['state_bytes_total']:.3f}) |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
