"""hamux_graph vs hand-written JAX: per-call speed, run throughput, compile time, GFLOP/s.

Usage::

    python benchmarks/run.py [--quick] [--out benchmarks/results/NAME.json]
                             [--only SECTION[,SECTION...]] [--rounds N]

Sections: ``compile`` (cold compile time), ``models`` (energy + gradient, ``run``), ``relax``
(``hg.relax`` at a fixed number of steps), ``langevin`` (``hg.langevin`` against a hand-written
Euler–Maruyama loop, and ``run`` with a ``dt`` schedule), ``train_step`` (one BPTT training step with
optax), ``large_dense`` (energy + gradient against the matmul roof; ``flops`` is an alias),
``et`` (Energy Transformer) and ``masked_attention`` (a masked ``SelfAttentionSynapse`` at 197
tokens against masked attention written by hand, and against the unmasked synapse). ``--only``
runs some of them (their tables are printed;
``RESULTS.md`` is written by a run of every section); ``--rounds`` sets the number of
alternating rounds of every timed section (the large dense one reports the per-round spread).

Every model is built in hamux_graph and as hand-written JAX with the same weights (and, if
the reference package ``hamux`` v0.2 is installed, in hamux: ``hamux_ref.py``); all are
checked to agree before anything is timed. Timings are medians over rounds that alternate
between the implementations in the same process; a ratio is the median over rounds of the
ratio within a round, so it is what to compare (the machine may be shared and noisy).
Writes a JSON result to ``benchmarks/results/`` and a markdown table to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import et as ET  # noqa: E402
import hamux_ref as HX  # noqa: E402
import masked_attention as MA  # noqa: E402
import models as M  # noqa: E402

import hamux_graph as hg  # noqa: E402
from hamux_graph._energy import calls  # noqa: E402  (cold-compile timings clear its cache)


HERE = os.path.dirname(os.path.abspath(__file__))


def _block(x):
    return jax.block_until_ready(x)


def per_call(fn, n):
    """Seconds per call, averaged over n back-to-back calls."""
    _block(fn())
    t = time.perf_counter()
    for _ in range(n - 1):
        fn()
    _block(fn())
    return (time.perf_counter() - t) / n


def alternate_rounds(fns: dict, n: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each fn in every round; rounds alternate between the functions.

    Each round times every function once, in a rotating order, so the k-th entries of the
    lists were measured seconds apart.
    """
    times = {k: [] for k in fns}
    keys = list(fns)
    for r in range(rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for k in order:
            times[k].append(per_call(fns[k], n))
    return times


def alternate(fns: dict, n: int, rounds: int) -> tuple[dict, dict]:
    """Median seconds per call of each fn, and its median per-round ratio to the first fn's.

    Rounds alternate between the functions (in a rotating order); a ratio is taken within
    each round, between measurements seconds apart, so slow drifts of the machine's speed
    cancel, and the median over rounds discards rounds hit by interference.
    """
    times = alternate_rounds(fns, n, rounds)
    keys = list(fns)
    base = times[keys[0]]
    ratios = {k: statistics.median([a / b for a, b in zip(v, base)]) for k, v in times.items()}
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def calls_for(f, budget=0.05):
    t = per_call(f, 3)
    return int(max(3, min(2000, budget / max(t, 1e-7))))


# ---- 1. energy + gradient per call, and run throughput ----------------------------------------


def bench_models(quick: bool, hamux: bool, rounds: int | None = None) -> list[dict]:
    rows = []
    rounds = rounds or (9 if quick else 21)
    steps = 100
    for name, build in M.MODELS.items():
        pair, layer_fns = build(jax.random.key(0))
        hw_eg, hw_run = M.make_handwritten(pair, layer_fns, steps=steps)
        model = pair.model
        hx_model = hamux and HX.supports(name)
        for batch in (None, 64):
            xs = M.random_states(model, batch, jax.random.key(1))
            # correctness first: same energies, gradients and runs
            e1, d1 = model.energy_and_dEdg(xs)
            e2, d2 = hw_eg(pair.params, xs)
            M.assert_close((e1, d1), (e2, d2), f"{name} energy+grad batch={batch}")
            dt = jnp.float32(0.05)
            r1 = model.run(xs, steps=steps, dt=dt, clamp=pair.clamp)
            r2 = hw_run(pair.params, xs, dt)
            M.assert_close(r1, r2, f"{name} run batch={batch}", rtol=2e-3, atol=2e-3)

            fns = {"hw": lambda: hw_eg(pair.params, xs), "hg": lambda: model.energy_and_dEdg(xs)}
            runs = {
                "hw": lambda: hw_run(pair.params, xs, dt),
                "hg": lambda: model.run(xs, steps=steps, dt=dt, clamp=pair.clamp),
            }
            if hx_model:
                hx_eg, hx_run = HX.energy_and_grad(name, pair), HX.run(name, pair, steps)
                M.assert_close(hx_eg(xs), (e2, d2), f"hamux {name} energy+grad batch={batch}")
                M.assert_close(hx_run(xs, dt), r2, f"hamux {name} run batch={batch}", rtol=2e-3, atol=2e-3)
                fns["hx"] = lambda: hx_eg(xs)
                runs["hx"] = lambda: hx_run(xs, dt)
            n = calls_for(fns["hw"])
            t, q = alternate(fns, n, rounds)
            nr = calls_for(runs["hw"], 0.2)
            tr, qr = alternate(runs, nr, rounds)
            row = {
                "model": pair.name,
                "batch": 1 if batch is None else batch,
                "eg_us_hg": t["hg"] * 1e6,
                "eg_us_hw": t["hw"] * 1e6,
                "eg_ratio": q["hg"],
                "run_steps_per_s_hg": steps / tr["hg"],
                "run_steps_per_s_hw": steps / tr["hw"],
                "run_throughput_ratio": 1.0 / qr["hg"],
                "clamp": list(pair.clamp),
            }
            if hx_model:
                row["eg_us_hamux"] = t["hx"] * 1e6
                row["eg_ratio_hamux"] = q["hx"]
                row["run_steps_per_s_hamux"] = steps / tr["hx"]
                row["run_throughput_ratio_hamux"] = 1.0 / qr["hx"]
            rows.append(row)
            print(
                f"{pair.name:34s} batch {row['batch']:3d}: energy+grad {row['eg_us_hg']:9.1f} us vs "
                f"{row['eg_us_hw']:9.1f} us (x{row['eg_ratio']:.3f}); run {row['run_steps_per_s_hg']:9.0f} "
                f"vs {row['run_steps_per_s_hw']:9.0f} steps/s (x{row['run_throughput_ratio']:.3f} throughput)"
                + (
                    f"; hamux x{row['eg_ratio_hamux']:.3f} / x{row['run_throughput_ratio_hamux']:.3f}"
                    if hx_model
                    else ""
                ),
                flush=True,
            )
    return rows


# ---- 2. relax at a fixed number of steps ----------------------------------------------------------

RELAX_MODELS = ("dense", "hopfield")


def bench_relax(quick: bool, rounds: int | None = None) -> list[dict]:
    """``hg.relax`` with ``tol = 0`` (so exactly ``max_steps`` steps) against a hand-written loop.

    The hand-written loop (``M.make_handwritten_relax``) does what ``relax`` does: Euler
    steps in a ``lax.while_loop``, the per-sample RMS of ∂E/∂g checked against ``tol`` after
    every step, the energy trace recorded. hg is timed with its default ``trace=True`` (the
    ratio) and with ``trace=False`` (no energy trace: an extra column).
    """
    rows = []
    rounds = rounds or (7 if quick else 21)
    steps = 100
    for name in RELAX_MODELS:
        pair, layer_fns = M.MODELS[name](jax.random.key(0))
        model = pair.model
        assert all(t == 1.0 for t in model.taus), "the hand-written relax takes every tau = 1"
        hw_relax = M.make_handwritten_relax(pair, layer_fns, steps)
        for batch in (None, 64):
            xs = M.random_states(model, batch, jax.random.key(1))
            dt, tol = jnp.float32(0.05), jnp.float32(0.0)

            def hg_relax(trace=True):
                return hg.relax(model, xs, tol=0.0, max_steps=steps, dt=dt, clamp=pair.clamp, throw=False, trace=trace)

            # correctness first: every sample took all the steps, same states and energy traces
            r1, r0 = hg_relax(), hg_relax(trace=False)
            r2 = hw_relax(pair.params, xs, dt, tol)
            assert np.all(np.asarray(r1.steps) == steps), f"{name} relax batch={batch}: stopped early"
            what = f"{name} relax batch={batch}"
            M.assert_close((r1.states, r1.energies), r2[:2], what, rtol=2e-3, atol=2e-3)
            M.assert_close(r0.states, r2[0], what + " trace=False", rtol=2e-3, atol=2e-3)
            fns = {
                "hw": lambda: hw_relax(pair.params, xs, dt, tol),
                "hg": hg_relax,
                "hg_notrace": lambda: hg_relax(False),
            }
            n = min(calls_for(f, 0.2) for f in fns.values())  # ~0.2 s for the slowest
            t, q = alternate(fns, n, rounds)
            row = {
                "model": pair.name,
                "batch": 1 if batch is None else batch,
                "steps": steps,
                "relax_ms_hg": t["hg"] * 1e3,
                "relax_ms_hw": t["hw"] * 1e3,
                "relax_ratio": q["hg"],
                "relax_ms_hg_notrace": t["hg_notrace"] * 1e3,
                "relax_ratio_notrace": q["hg_notrace"],
                "clamp": list(pair.clamp),
            }
            rows.append(row)
            print(
                f"relax {pair.name:28s} batch {row['batch']:3d}, {steps} steps: hg {row['relax_ms_hg']:9.2f} ms vs "
                f"{row['relax_ms_hw']:9.2f} ms (x{row['relax_ratio']:.3f}); trace=False "
                f"{row['relax_ms_hg_notrace']:9.2f} ms (x{row['relax_ratio_notrace']:.3f})",
                flush=True,
            )
    return rows


# ---- 2b. Langevin sampling, and run with a schedule -------------------------------------------------


def bench_langevin(quick: bool, rounds: int | None = None) -> list[dict]:
    """``hg.langevin`` against a hand-written Euler–Maruyama loop, and ``run`` with a schedule.

    The hand-written loop (``M.make_handwritten_langevin``) differentiates the energy of the
    states directly (``∂E/∂x``, the drift ``hg.langevin`` computes as ``∇²L·∂E/∂g``); at ``T =
    0`` both are the same deterministic descent, checked to agree before timing. ``run`` with
    ``dt`` a schedule (a constant function) is timed against ``run`` with the plain constant.
    """
    rows = []
    rounds = rounds or (7 if quick else 21)
    steps = 100
    pair, layer_fns = M.MODELS["hopfield"](jax.random.key(0))
    model = pair.model
    hw = M.make_handwritten_langevin(pair, layer_fns, steps)
    for batch in (1, 64):
        xs = M.random_states(model, batch, jax.random.key(1))
        dt, key = jnp.float32(0.01), jax.random.key(2)
        cold = model.langevin(xs, steps=steps, dt=dt, temperature=0.0, key=key)
        M.assert_close(cold, hw(pair.params, xs, dt, jnp.float32(0.0), key), "langevin T=0", rtol=2e-3, atol=2e-3)
        fns = {
            "hw": lambda: hw(pair.params, xs, dt, jnp.float32(0.1), key),
            "hg": lambda: model.langevin(xs, steps=steps, dt=dt, temperature=0.1, key=key),
        }
        n = min(calls_for(f, 0.2) for f in fns.values())
        t, q = alternate(fns, n, rounds)
        schedule = lambda step: 0.01 + 0.0 * step  # noqa: E731  (one function object: compiled once)
        runs = {
            "constant": lambda: model.run(xs, steps=steps, dt=0.01),
            "schedule": lambda: model.run(xs, steps=steps, dt=schedule),
        }
        n2 = min(calls_for(f, 0.2) for f in runs.values())
        t2, q2 = alternate(runs, n2, rounds)
        row = {
            "model": pair.name,
            "batch": batch,
            "steps": steps,
            "langevin_ms_hg": t["hg"] * 1e3,
            "langevin_ms_hw": t["hw"] * 1e3,
            "langevin_ratio": q["hg"],
            "run_ms_constant": t2["constant"] * 1e3,
            "run_ms_schedule": t2["schedule"] * 1e3,
            "schedule_ratio": q2["schedule"],
        }
        rows.append(row)
        print(
            f"langevin {pair.name} batch {batch:3d}, {steps} steps: hg {row['langevin_ms_hg']:8.2f} ms vs hand-written "
            f"{row['langevin_ms_hw']:8.2f} ms (time x{row['langevin_ratio']:.3f}, throughput "
            f"{1 / row['langevin_ratio']:.3f}); run with a dt schedule x{row['schedule_ratio']:.3f} of the constant",
            flush=True,
        )
    return rows


def _md_langevin(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## `langevin`, and `run` with a schedule",
        "",
        "`hg.langevin(model, xs, steps=100, dt=0.01, temperature=0.1, key=...)` against a hand-written jitted "
        "Euler–Maruyama `lax.scan` (drift ∂E/∂x by autodiff of the energy of the states, the energy recorded; "
        "both agree at T = 0 before timing). Throughput = hand-written time / hg time (target ≥ 0.95). "
        "Schedule ratio = `run(xs, steps=100, dt=schedule)` time / `run(xs, steps=100, dt=0.01)` time.",
        "",
        "| model | batch | steps | langevin hg (ms) | hand-written (ms) | throughput hg | run, constant (ms) "
        "| run, schedule (ms) | schedule ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['langevin_ms_hg']:.2f} | {r['langevin_ms_hw']:.2f} | "
            f"**{1 / r['langevin_ratio']:.3f}** | {r['run_ms_constant']:.2f} | {r['run_ms_schedule']:.2f} | "
            f"{r['schedule_ratio']:.3f} |"
        )
    return lines


# ---- 3. one BPTT training step --------------------------------------------------------------------

TRAIN_ROWS = (((784, 1000, 10), 64, 10), ((784, 1000, 10), 64, 20), ((784, 256, 10), 64, 20))
TRAIN_DT, TRAIN_LR = 0.2, 1e-3


def bench_train_step(quick: bool, rounds: int | None = None) -> list[dict]:
    """``hg.train.make_train_step`` (BPTT through ``hg.train.forward``) against a hand-written step.

    The hand-written step (``M.make_bptt_step``): ``jax.value_and_grad`` of the loss through
    a ``lax.scan`` of the same Euler steps, then the same ``optax.adam`` update of W1, W2 and
    the softmax β (everything hg trains by default). The ratio is against that step as one
    would write it (the held image's drive ``img @ W1`` inside each step); an extra column
    times it with that drive hoisted out of the loop (what hg's ``run`` does for held layers).
    """
    import equinox as eqx
    import optax

    rows = []
    rounds = rounds or (9 if quick else 21)
    opt = optax.adam(TRAIN_LR)
    for sizes, B, steps in TRAIN_ROWS:
        pair, _ = M.dense_classifier(jax.random.key(0), *sizes)
        model = pair.model
        img = jax.random.uniform(jax.random.key(2), (B, sizes[0]))
        labels = jax.random.randint(jax.random.key(3), (B,), 0, sizes[2])

        def loss_fn(m, x, y, steps=steps):
            logits = hg.train.forward(m, x, input="img", output="lab", steps=steps, dt=TRAIN_DT, read="logits")
            return hg.train.cross_entropy(logits, y)

        hg_step = hg.train.make_train_step(opt, loss_fn)
        hg_state = hg.train.init_opt_state(opt, model)
        params = {"W1": model.synapse("s1").W, "W2": model.synapse("s2").W, "beta": model.lagrangians[2].beta}
        hw_step, hw_loss_grad = M.make_bptt_step(opt, steps, TRAIN_DT)
        hw_hoisted, _ = M.make_bptt_step(opt, steps, TRAIN_DT, hoist=True)
        hw_state = opt.init(params)

        def as_params(m):
            return {"W1": m.synapse("s1").W, "W2": m.synapse("s2").W, "beta": m.lagrangians[2].beta}

        # correctness first: the same loss and gradients, and the same parameters after one step
        what = f"train step {pair.name} steps={steps}"
        l1, g1 = eqx.filter_value_and_grad(loss_fn)(model, img, labels)
        l2, g2 = hw_loss_grad(params, img, labels)
        M.assert_close(l1, l2, what + " loss", rtol=1e-5, atol=1e-6)
        g1 = {"W1": g1.synapses[0].W, "W2": g1.synapses[1].W, "beta": g1.lagrangians[2].beta}
        for k in params:
            scale = float(jnp.max(jnp.abs(g2[k])))
            M.assert_close(g1[k], g2[k], f"{what} grad {k}", rtol=1e-3, atol=1e-4 * scale)
        new_hg, _, la = hg_step(model, hg_state, img, labels)
        for f in (hw_step, hw_hoisted):
            new_hw, _, lb = f(params, hw_state, img, labels)
            M.assert_close(la, lb, what + " step loss", rtol=1e-5, atol=1e-6)
            # adam's first update is ±lr where the gradient is not tiny: allow 5 % of lr
            M.assert_close(as_params(new_hg), new_hw, what + " updated params", rtol=0, atol=0.05 * TRAIN_LR)
        fns = {
            "hw": lambda: hw_step(params, hw_state, img, labels),
            "hg": lambda: hg_step(model, hg_state, img, labels),
            "hw_hoisted": lambda: hw_hoisted(params, hw_state, img, labels),
        }
        times = alternate_rounds(fns, min(calls_for(f, 0.2) for f in fns.values()), rounds)
        med = statistics.median
        row = {
            "model": pair.name,
            "batch": B,
            "steps": steps,
            "optimizer": f"adam({TRAIN_LR:g})",
            "step_ms_hg": med(times["hg"]) * 1e3,
            "step_ms_hw": med(times["hw"]) * 1e3,
            "step_ratio": med([a / b for a, b in zip(times["hg"], times["hw"])]),
            "step_ms_hw_hoisted": med(times["hw_hoisted"]) * 1e3,
            "step_ratio_hoisted": med([a / b for a, b in zip(times["hg"], times["hw_hoisted"])]),
        }
        rows.append(row)
        print(
            f"train step {pair.name:20s} batch {B:3d}, {steps:2d} steps: hg {row['step_ms_hg']:8.2f} ms vs "
            f"{row['step_ms_hw']:8.2f} ms (x{row['step_ratio']:.3f}); vs drive hoisted "
            f"{row['step_ms_hw_hoisted']:8.2f} ms (x{row['step_ratio_hoisted']:.3f})",
            flush=True,
        )
    return rows


# ---- 4. cold compile time vs graph size ---------------------------------------------------------


def _timed(f):
    t = time.perf_counter()
    _block(f())
    return time.perf_counter() - t


def _cold() -> None:
    """Forget every compiled function (JAX's caches and hamux_graph's), for a cold timing."""
    jax.clear_caches()
    calls.clear()


def cold_compile(make, repeats: int) -> float:
    """Median over ``repeats`` of the first call of ``make()`` (a fresh callable) after ``_cold``."""
    times = []
    for _ in range(repeats):
        f = make()
        _cold()
        times.append(_timed(f))
    return statistics.median(times)


def bench_compile(quick: bool, hamux: bool) -> dict:
    Ls = (2, 8, 32, 128, 512)
    unstacked_max = 128 if quick else 512
    repeats = 5 if quick else 7
    out = {"chain": [], "hyperedge": [], "repeats": repeats}
    for L in Ls:
        key = jax.random.key(L)
        t = time.perf_counter()
        model = jax.block_until_ready(M.chain_ham(L).compile(key=key))  # weights initialised
        build_s = time.perf_counter() - t
        xs = _block(M.random_states(model, None, jax.random.key(1)))

        def fresh_hg():
            # a new model instance of the same weights: nothing cached for it
            m = jax.tree_util.tree_map(lambda a: a, model)
            return lambda: m.energy_and_dEdg(xs)

        hg_s = cold_compile(fresh_hg, repeats)
        warm = per_call(lambda: model.energy_and_dEdg(xs), 5)
        ps = model.pack(xs)  # states kept in grouped form (hg.PackedStates)
        warm_packed = per_call(lambda: model.energy_and_dEdg(ps), 5)
        M.assert_close(model.unpack(model.energy_and_dEdg(ps)[1]), model.energy_and_dEdg(xs)[1], f"packed L={L}")
        # hand-written, stacked layers and synapses
        W = jnp.stack([model.synapse(f"s{i}").W for i in range(L)])
        X = jnp.stack([xs[f"x{i}"] for i in range(L + 1)])
        st_s = cold_compile(lambda: (lambda f: lambda: f(W, X))(M.chain_handwritten_stacked(L)), repeats)
        f_st = M.chain_handwritten_stacked(L)
        e_st, d_st = f_st(W, X)
        e_hg, d_hg = model.energy_and_dEdg(xs)
        M.assert_close((e_hg, jnp.stack([d_hg[f"x{i}"] for i in range(L + 1)])), (e_st, d_st), f"chain L={L}")
        st_warm = per_call(lambda: f_st(W, X), 5)
        row = {
            "L": L,
            "build_s": build_s,
            "compile_s_hg": hg_s,
            "compile_s_hw_stacked": st_s,
            "call_ms_hg": warm * 1e3,
            "call_ms_hg_packed": warm_packed * 1e3,
            "call_ms_hw_stacked": st_warm * 1e3,
        }
        if L <= unstacked_max:
            Ws = [model.synapse(f"s{i}").W for i in range(L)]
            xl = [xs[f"x{i}"] for i in range(L + 1)]
            f_un = M.chain_handwritten_unstacked(L)
            row["compile_s_hw_unstacked"] = _timed(lambda: f_un(Ws, xl))
            row["call_ms_hw_unstacked"] = per_call(lambda: f_un(Ws, xl), 5) * 1e3
        if hamux and L <= unstacked_max:
            f_hx = HX.chain_energy_and_grad(model)
            row["compile_s_hamux"] = _timed(lambda: f_hx(xs))
            M.assert_close(f_hx(xs), (e_hg, d_hg), f"hamux chain L={L}")
            row["call_ms_hamux"] = per_call(lambda: f_hx(xs), 5) * 1e3
        out["chain"].append(row)
        print(
            f"chain L={L:4d}: compile hg {hg_s:6.2f} s, hand-written stacked {st_s:5.2f} s"
            + (f", unstacked {row['compile_s_hw_unstacked']:6.2f} s" if "compile_s_hw_unstacked" in row else "")
            + (f", hamux {row['compile_s_hamux']:6.2f} s" if "compile_s_hamux" in row else "")
            + f"; per call hg {warm * 1e3:7.2f} ms (packed {warm_packed * 1e3:6.2f}) vs stacked "
            f"{st_warm * 1e3:6.2f} ms (build {build_s:.2f} s)",
            flush=True,
        )
    for k in (2, 4, 8):
        model = M.hyperedge_ham(k).compile(key=jax.random.key(100 + k))
        xs = _block(M.random_states(model, None, jax.random.key(1)))
        hg_s = _timed(lambda: model.energy_and_dEdg(xs))
        Ws = list(model.synapse("s").Ws)
        xl = [xs[f"x{i}"] for i in range(k)]
        f = M.hyperedge_handwritten(k)
        hw_s = _timed(lambda: f(Ws, xl))
        e1, d1 = model.energy_and_dEdg(xs)
        e2, d2 = f(Ws, xl)
        M.assert_close((e1, [d1[f"x{i}"] for i in range(k)]), (e2, d2), f"hyperedge k={k}")
        out["hyperedge"].append({"k": k, "compile_s_hg": hg_s, "compile_s_hw": hw_s})
        print(f"one synapse over k={k}: compile hg {hg_s:.2f} s, hand-written {hw_s:.2f} s", flush=True)
    return out


# ---- 5. large dense model vs the matmul roof ---------------------------------------------------


def bench_flops(quick: bool, rounds: int | None = None) -> dict:
    """Energy + gradient of a large dense model as a fraction of the plain matmul's GFLOP/s.

    Rounds alternate between the plain matmul, hg and hand-written; a fraction is taken
    within each round (``2 · t_matmul / t``), and the median and min–max over rounds are
    reported (7 rounds unless ``rounds`` says otherwise).
    """
    d1, d2, B = 2048, 4096, 256
    model = M.big_dense(jax.random.key(7), d1, d2)
    xs = M.random_states(model, B, jax.random.key(8))
    W = model.synapse("W").W

    @jax.jit
    def matmul(a, w):
        return a @ w

    @jax.jit
    def hw(w, xs):
        a, b = xs["a"], xs["b"]
        _, ga, ea = M.tanh_layer(a)
        _, gb, eb = M.relu_layer(b)
        h = ga @ w  # (B, d2)
        e = ea + eb - jnp.sum(h * gb, axis=-1)
        return e, {"a": a - gb @ w.T, "b": b - h}

    M.assert_close(model.energy_and_dEdg(xs), hw(W, xs), "big dense", rtol=1e-3, atol=1e-2)
    a = jnp.tanh(xs["a"])
    rounds = rounds or 7
    times = alternate_rounds(
        {"matmul": lambda: matmul(a, W), "hg": lambda: model.energy_and_dEdg(xs), "hw": lambda: hw(W, xs)},
        2 if quick else 5,
        rounds,
    )
    t = {k: statistics.median(v) for k, v in times.items()}
    flop_mm = 2 * B * d1 * d2
    flop_eg = 2 * flop_mm  # forward product + the gradient's second matmul (the first is reused)
    res = {
        "shape": [B, d1, d2],
        "rounds": rounds,
        "matmul_gflops": flop_mm / t["matmul"] / 1e9,
        "hg_gflops": flop_eg / t["hg"] / 1e9,
        "hw_gflops": flop_eg / t["hw"] / 1e9,
    }
    for k in ("hg", "hw"):
        fr = [(flop_eg / tk) / (flop_mm / tm) for tk, tm in zip(times[k], times["matmul"])]
        res[f"{k}_fraction_rounds"] = fr
        res[f"{k}_fraction_of_roof"] = statistics.median(fr)
        res[f"{k}_fraction_min"], res[f"{k}_fraction_max"] = min(fr), max(fr)
    print(
        f"dense {d1}x{d2} batch {B}, {rounds} rounds: matmul {res['matmul_gflops']:.1f} GFLOP/s, "
        f"hg {res['hg_gflops']:.1f} ({res['hg_fraction_of_roof']:.0%}, rounds {res['hg_fraction_min']:.0%}–"
        f"{res['hg_fraction_max']:.0%}), hand-written {res['hw_gflops']:.1f} ({res['hw_fraction_of_roof']:.0%}, "
        f"rounds {res['hw_fraction_min']:.0%}–{res['hw_fraction_max']:.0%})",
        flush=True,
    )
    return res


# ---- report -------------------------------------------------------------------------------------


def _md_models(result: dict) -> list[str]:
    hx = "hamux_version" in result
    lines = [
        "",
        "## Energy + gradient per call, and `run` (100 Euler steps)",
        "",
        "Time ratio = time / hand-written time (target for hamux_graph ≤ 1.05); throughput ratio = "
        "steps/s / hand-written steps/s (target ≥ 0.95)."
        + (f" hamux = the reference package v{result['hamux_version']}." if hx else ""),
        "",
        "| model | batch | energy+∂E/∂g hg (µs) | hand-written (µs) | time ratio hg |"
        + (" hamux (µs) | time ratio hamux |" if hx else "")
        + " run steps/s hg | hand-written | throughput ratio hg |"
        + (" throughput ratio hamux |" if hx else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|---|" if hx else ""),
    ]
    for r in result.get("models", []):
        has_hx = hx and "eg_us_hamux" in r  # hamux has no sparse or distance-kernel memory
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['eg_us_hg']:.1f} | {r['eg_us_hw']:.1f} | **{r['eg_ratio']:.3f}** | "
            + ((f"{r['eg_us_hamux']:.1f} | {r['eg_ratio_hamux']:.3f} | " if has_hx else "— | — | ") if hx else "")
            + f"{r['run_steps_per_s_hg']:.0f} | {r['run_steps_per_s_hw']:.0f} | **{r['run_throughput_ratio']:.3f}** |"
            + ((f" {r['run_throughput_ratio_hamux']:.3f} |" if has_hx else " — |") if hx else "")
        )
    return lines


def _md_relax(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## `relax` at a fixed number of steps",
        "",
        "`hg.relax(model, xs, tol=0.0, max_steps=100, dt=0.05, clamp=..., throw=False)` (every sample "
        "takes all 100 steps) against a hand-written jitted `lax.while_loop` doing the same: clamped Euler "
        "steps x ← x − dt·∂E/∂g, the per-sample RMS of ∂E/∂g checked against tol after every step, the "
        "energy trace recorded (`M.make_handwritten_relax`). Final states and energy traces agree before "
        "timing. Time ratio = hg time / hand-written time (the default `trace=True`; `trace=False` drops "
        "the energy trace and is an extra column).",
        "",
        "| model | batch | steps | relax hg (ms) | hand-written (ms) | time ratio hg | hg, trace=False (ms) "
        "| time ratio trace=False |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['relax_ms_hg']:.2f} | {r['relax_ms_hw']:.2f} | "
            f"**{r['relax_ratio']:.3f}** | {r['relax_ms_hg_notrace']:.2f} | {r['relax_ratio_notrace']:.3f} |"
        )
    return lines


def _md_train_step(rows: list[dict]) -> list[str]:
    opt = rows[0]["optimizer"] if rows else ""
    lines = [
        "",
        "## One BPTT training step",
        "",
        f"`hg.train.make_train_step(optax.{opt}, loss_fn)` with `loss_fn` the cross-entropy of "
        f'`hg.train.forward(model, img, steps=T, dt={TRAIN_DT}, read="logits")` (image held, BPTT through '
        "the T Euler steps of `model.run`; W1, W2 and the softmax β train), against a hand-written jitted "
        "step: `jax.value_and_grad` of the same loss through a `lax.scan` of the same Euler steps, then the "
        "same optax update (`M.make_bptt_step`). Loss, gradients and updated parameters agree before timing. "
        "Time ratio = hg time / hand-written time; hg precomputes the held image's drive `img @ W1` once "
        "per run, the hand-written step computes it inside every step; the last columns time the "
        "hand-written step with that drive hoisted out of the loop.",
        "",
        "| model | batch | steps | train step hg (ms) | hand-written (ms) | time ratio hg | "
        "hand-written, `img @ W1` hoisted (ms) | time ratio vs hoisted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['step_ms_hg']:.2f} | {r['step_ms_hw']:.2f} | "
            f"**{r['step_ratio']:.3f}** | {r['step_ms_hw_hoisted']:.2f} | {r['step_ratio_hoisted']:.3f} |"
        )
    return lines


def _md_compile(result: dict) -> list[str]:
    hx = "hamux_version" in result
    c = result["compile"]
    lines = [
        "",
        "## Cold compile time (first call of energy + ∂E/∂g, seconds)",
        "",
        f"Medians of {c.get('repeats', 1)} first calls, JAX's and hamux_graph's caches cleared before each "
        "(hamux and one array per node: a single call).",
        "",
        "Chain of L tanh layers of 64 units, a DenseSynapse between neighbours (target: ≤ 2 s at "
        "L = 512 and ≤ 1.5× the L = 8 time). Per call: energy + ∂E/∂g once compiled; hg takes a dict of "
        "L + 1 arrays and returns one, splitting and stacking groups at the boundary; with "
        "`model.pack(xs)` (`hg.PackedStates`) the states stay stacked between calls.",
        "",
        "| L | hamux_graph | hand-written, stacked arrays | hand-written, one array per node |"
        + (" hamux |" if hx else "")
        + " per call hg (ms) | hg, PackedStates (ms) | per call stacked (ms) | per call one array per node (ms) |"
        + (" per call hamux (ms) |" if hx else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if hx else ""),
    ]
    dash = lambda r, k, f="{:.2f}": f.format(r[k]) if k in r else "—"  # noqa: E731
    for r in c["chain"]:
        lines.append(
            f"| {r['L']} | **{r['compile_s_hg']:.2f}** | {r['compile_s_hw_stacked']:.2f} | "
            f"{dash(r, 'compile_s_hw_unstacked')} |"
            + (f" {dash(r, 'compile_s_hamux')} |" if hx else "")
            + f" {r['call_ms_hg']:.2f} | {dash(r, 'call_ms_hg_packed')} | {r['call_ms_hw_stacked']:.2f} | "
            f"{dash(r, 'call_ms_hw_unstacked')} |" + (f" {dash(r, 'call_ms_hamux')} |" if hx else "")
        )
    chain = {r["L"]: r for r in c["chain"]}
    if 8 in chain and 512 in chain:
        lines.append("")
        lines.append(
            f"hamux_graph L=512 / L=8 compile time: {chain[512]['compile_s_hg'] / chain[8]['compile_s_hg']:.2f}×."
        )
    lines += [
        "",
        "One DenseMatrixSynapseWithHiddenLayer over k layers of 64 units:",
        "",
        "| k | hamux_graph (s) | hand-written (s) |",
        "|---|---|---|",
    ]
    for r in c["hyperedge"]:
        lines.append(f"| {r['k']} | {r['compile_s_hg']:.2f} | {r['compile_s_hw']:.2f} |")
    return lines


def _md_flops(f: dict) -> list[str]:
    spread = "hg_fraction_min" in f  # results from before the per-round fractions have none
    sp = lambda k: f" | {f[k + '_fraction_min']:.0%}–{f[k + '_fraction_max']:.0%}" if spread else ""  # noqa: E731
    return [
        "",
        "## Large dense model (energy + ∂E/∂g) against the matmul roof",
        "",
        f"Layers {f['shape'][1]} (tanh) and {f['shape'][2]} (relu), batch {f['shape'][0]}; "
        "energy + gradient counted as two matmuls of that shape."
        + (
            f" {f['rounds']} rounds alternating matmul, hg and hand-written; a fraction is taken within each "
            "round (median over rounds, and the per-round min–max)."
            if spread
            else ""
        ),
        "",
        "| | GFLOP/s | fraction of plain matmul (target ≥ 90 %) |" + (" per-round min–max |" if spread else ""),
        "|---|---|---|" + ("---|" if spread else ""),
        f"| plain `a @ W` | {f['matmul_gflops']:.1f} | 100 % |" + (" — |" if spread else ""),
        f"| hamux_graph | {f['hg_gflops']:.1f} | {f['hg_fraction_of_roof']:.0%}{sp('hg')} |",
        f"| hand-written | {f['hw_gflops']:.1f} | {f['hw_fraction_of_roof']:.0%}{sp('hw')} |",
        "",
    ]


def markdown(result: dict) -> str:
    """The markdown report of the sections in ``result`` (every section: ``RESULTS.md``)."""
    hx = "hamux_version" in result
    lines = [
        "# Benchmarks: hamux_graph vs hand-written JAX",
        "",
        f"Run {result['date']} on {result['machine']} ({result['cpus']} CPUs, jax {result['jax']}, "
        f"backend {result['backend']}){' with --quick' if result['quick'] else ''}"
        + (f", sections {', '.join(result['only'])} only" if result.get("only") else "")
        + ". Timings are medians of rounds alternating between the implementations in one process; "
        "ratios are medians over rounds of the ratio within a round (the machine may be shared, "
        "so compare the ratios). Reproduce with `python benchmarks/run.py` "
        "(`--only SECTION[,SECTION]` for some sections, `--rounds N` for more rounds).",
    ]
    if "models" in result:
        lines += _md_models(result)
    if "relax" in result:
        lines += _md_relax(result["relax"])
    if "langevin" in result:
        lines += _md_langevin(result["langevin"])
    if "train_step" in result:
        lines += _md_train_step(result["train_step"])
    if "compile" in result:
        lines += _md_compile(result)
    if "flops" in result:
        lines += _md_flops(result["flops"])
    if "et" in result:
        lines += ET.markdown_rows(result["et"])
    if "masked_attention" in result:
        lines += MA.markdown_rows(result["masked_attention"])
    if not hx and ("models" in result or "compile" in result):
        lines.append(
            "(The reference `hamux` package was not installed: no column for it. "
            "`pip install hamux==0.2.2 fastcore` adds one.)"
        )
    return "\n".join(lines)


SECTIONS = ("compile", "models", "relax", "langevin", "train_step", "large_dense", "et", "masked_attention")
SECTION_ALIASES = {"flops": "large_dense"}  # the JSON key of large_dense stays "flops"


def sections_arg(text: str) -> list[str]:
    """``--only``: comma-separated section names (in any order; run in the order of SECTIONS)."""
    names = [SECTION_ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {bad or [text]}; choose from {', '.join(SECTIONS)} (flops = large_dense), "
            "comma-separated"
        )
    return [n for n in SECTIONS if n in names]


def rounds_arg(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"--rounds must be >= 1, got {n}")
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (a few minutes on 2 cores)")
    p.add_argument("--out", default=None, help="JSON output path (default benchmarks/results/<date>.json)")
    p.add_argument(
        "--only",
        default=None,
        type=sections_arg,
        metavar="SECTION[,SECTION]",
        help=f"run only these sections, of {', '.join(SECTIONS)} (flops = large_dense); prints their tables "
        "instead of writing RESULTS.md",
    )
    p.add_argument(
        "--rounds",
        default=None,
        type=rounds_arg,
        metavar="N",
        help="alternating rounds of every timed section (default: per section; large_dense 7, and it "
        "reports the per-round min-max of its roof fractions)",
    )
    p.add_argument("--no-hamux", action="store_true", help="skip the reference hamux column even if installed")
    args = p.parse_args(argv)
    run = set(args.only or SECTIONS)
    result = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "hamux_graph": hg.__version__,
        "backend": jax.default_backend(),
        "quick": args.quick,
        "rounds": args.rounds,
        "loadavg": os.getloadavg(),
    }
    if args.only:
        result["only"] = args.only
    hamux = HX.available() and not args.no_hamux
    if hamux:
        import importlib.metadata

        result["hamux_version"] = importlib.metadata.version("hamux")
    if "compile" in run:
        result["compile"] = bench_compile(args.quick, hamux)
    if "models" in run:
        result["models"] = bench_models(args.quick, hamux, args.rounds)
    if "relax" in run:
        result["relax"] = bench_relax(args.quick, args.rounds)
    if "langevin" in run:
        result["langevin"] = bench_langevin(args.quick, args.rounds)
    if "train_step" in run:
        result["train_step"] = bench_train_step(args.quick, args.rounds)
    if "large_dense" in run:
        result["flops"] = bench_flops(args.quick, args.rounds)
    if "et" in run:
        et_alternate = alternate if args.rounds is None else (lambda fns, n, _: alternate(fns, n, args.rounds))
        result["et"] = ET.bench_et(args.quick, et_alternate, calls_for)
    if "masked_attention" in run:
        result["masked_attention"] = MA.bench_masked_attention(args.quick, alternate_rounds, calls_for, args.rounds)
    result["loadavg_end"] = os.getloadavg()
    out = args.out or os.path.join(HERE, "results", result["date"].replace(" ", "_").replace(":", "") + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    print("wrote", out)
    if args.only is None:
        with open(os.path.join(HERE, "RESULTS.md"), "w") as fh:
            fh.write(markdown(result))
        print("wrote", os.path.join(HERE, "RESULTS.md"))
    else:
        print(markdown(result))


if __name__ == "__main__":
    main()
