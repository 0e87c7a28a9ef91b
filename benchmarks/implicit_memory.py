"""Peak training memory: implicit (fixed-point) gradients vs backprop through time.

For a dense 3-layer HAM (clamped input 64, tanh hidden 512, tanh output 10; batch 64) this
compiles one gradient step of a squared loss on the relaxed output in two ways:

* BPTT: ``jax.grad`` through ``model.run(steps=N)`` (a ``lax.scan``; every step's states
  are kept for the backward pass);
* implicit: ``jax.grad`` through ``model.relax(max_steps=N, trace=False)`` (a
  ``lax.while_loop`` forward, an adjoint fixed-point solve backward; nothing per step kept);

and prints XLA's compiled memory analysis (``temp_size_in_bytes``: scratch memory of the
compiled program, the part that grows with stored activations) for several N, plus the
wall time of one gradient evaluation.

Run: ``python benchmarks/implicit_memory.py [--steps 10 100 1000] [--hidden 512]``
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import hamux_graph as hg


def build(hidden: int, key):
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((64,)))
    ham.add_layer("h", hg.TanhLayer((hidden,)))
    ham.add_layer("o", hg.TanhLayer((10,)))
    ham.add_synapse("vh", hg.DenseSynapse(stdinit=0.05), layers=("v", "h"))
    ham.add_synapse("ho", hg.DenseSynapse(stdinit=0.1), layers=("h", "o"))
    return ham.compile(key=key)


def loss_of(states, target):
    return jnp.mean((jnp.tanh(states["o"]) - target) ** 2)


def bptt_grad(model, xs, target, steps):
    def loss(m):
        states, _ = m.run(xs, steps=steps, dt=0.2, clamp=("v",))
        return loss_of(states, target)

    return eqx.filter_grad(loss)(model)


def implicit_grad(model, xs, target, steps):
    def loss(m):
        res = m.relax(xs, tol=1e-5, max_steps=steps, dt=0.2, clamp=("v",), throw=False, trace=False)
        return loss_of(res.states, target)

    return eqx.filter_grad(loss)(model)


def measure(fn, model, xs, target, steps):
    params, static = eqx.partition(model, eqx.is_array)
    jitted = jax.jit(lambda p, x, t: fn(eqx.combine(p, static), x, t, steps))
    compiled = jitted.lower(params, xs, target).compile()
    mem = compiled.memory_analysis()
    jax.block_until_ready(compiled(params, xs, target))
    t = time.perf_counter()
    jax.block_until_ready(compiled(params, xs, target))
    return mem.temp_size_in_bytes, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    key = jax.random.key(0)
    model = build(args.hidden, key)
    xs = model.init_states(batch_size=args.batch, key=jax.random.fold_in(key, 1))
    xs["v"] = jax.random.normal(jax.random.fold_in(key, 2), (args.batch, 64))
    target = 0.5 * jax.random.normal(jax.random.fold_in(key, 3), (args.batch, 10))
    res = model.relax(xs, tol=1e-5, max_steps=max(args.steps), dt=0.2, clamp=("v",), throw=False)
    print(
        f"device: {jax.devices()[0].device_kind}; steps the forward relaxation needs to reach tol=1e-5: "
        f"{int(jnp.max(res.steps))} (converged: {bool(jnp.all(res.converged))})"
    )
    print(f"{'N steps':>8} | {'BPTT temp MiB':>13} | {'implicit temp MiB':>17} | {'BPTT s':>7} | {'implicit s':>10}")
    for n in args.steps:
        mb, tb = measure(bptt_grad, model, xs, target, n)
        mi, ti = measure(implicit_grad, model, xs, target, n)
        print(f"{n:>8} | {mb / 2**20:>13.2f} | {mi / 2**20:>17.2f} | {tb:>7.3f} | {ti:>10.3f}")


if __name__ == "__main__":
    main()
