"""hamux_graph vs hand-written JAX: per-call speed, run throughput, compile time, GFLOP/s.

Usage::

    python benchmarks/run.py [--quick] [--out benchmarks/results/NAME.json]

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


def alternate(fns: dict, n: int, rounds: int) -> tuple[dict, dict]:
    """Median seconds per call of each fn, and its median per-round ratio to the first fn's.

    Rounds alternate between the functions (in a rotating order); a ratio is taken within
    each round, between measurements seconds apart, so slow drifts of the machine's speed
    cancel, and the median over rounds discards rounds hit by interference.
    """
    times = {k: [] for k in fns}
    keys = list(fns)
    for r in range(rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for k in order:
            times[k].append(per_call(fns[k], n))
    base = times[keys[0]]
    ratios = {k: statistics.median([a / b for a, b in zip(v, base)]) for k, v in times.items()}
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def calls_for(f, budget=0.05):
    t = per_call(f, 3)
    return int(max(3, min(2000, budget / max(t, 1e-7))))


# ---- 1. energy + gradient per call, and run throughput ----------------------------------------


def bench_models(quick: bool, hamux: bool) -> list[dict]:
    rows = []
    rounds = 9 if quick else 21
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


# ---- 2. cold compile time vs graph size ---------------------------------------------------------


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


# ---- 3. large dense model vs the matmul roof ---------------------------------------------------


def bench_flops(quick: bool) -> dict:
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
    rounds = 3 if quick else 7
    t, _ = alternate(
        {"matmul": lambda: matmul(a, W), "hg": lambda: model.energy_and_dEdg(xs), "hw": lambda: hw(W, xs)},
        2 if quick else 5,
        rounds,
    )
    flop_mm = 2 * B * d1 * d2
    flop_eg = 2 * flop_mm  # forward product + the gradient's second matmul (the first is reused)
    res = {
        "shape": [B, d1, d2],
        "matmul_gflops": flop_mm / t["matmul"] / 1e9,
        "hg_gflops": flop_eg / t["hg"] / 1e9,
        "hw_gflops": flop_eg / t["hw"] / 1e9,
    }
    res["hg_fraction_of_roof"] = res["hg_gflops"] / res["matmul_gflops"]
    res["hw_fraction_of_roof"] = res["hw_gflops"] / res["matmul_gflops"]
    print(
        f"dense {d1}x{d2} batch {B}: matmul {res['matmul_gflops']:.1f} GFLOP/s, hg {res['hg_gflops']:.1f} "
        f"({res['hg_fraction_of_roof']:.0%}), hand-written {res['hw_gflops']:.1f} ({res['hw_fraction_of_roof']:.0%})",
        flush=True,
    )
    return res


# ---- report -------------------------------------------------------------------------------------


def markdown(result: dict) -> str:
    hx = "hamux_version" in result
    lines = [
        "# Benchmarks: hamux_graph vs hand-written JAX",
        "",
        f"Run {result['date']} on {result['machine']} ({result['cpus']} CPUs, jax {result['jax']}, "
        f"backend {result['backend']}){' with --quick' if result['quick'] else ''}. "
        "Timings are medians of rounds alternating between the implementations in one process; "
        "ratios are medians over rounds of the ratio within a round (the machine may be shared, "
        "so compare the ratios). Reproduce with `python benchmarks/run.py`.",
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
    c = result["compile"]
    lines += [
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
            f"{dash(r, 'call_ms_hw_unstacked')} |"
            + (f" {dash(r, 'call_ms_hamux')} |" if hx else "")
        )
    chain = {r["L"]: r for r in c["chain"]}
    if 8 in chain and 512 in chain:
        lines.append("")
        lines.append(
            f"hamux_graph L=512 / L=8 compile time: "
            f"{chain[512]['compile_s_hg'] / chain[8]['compile_s_hg']:.2f}×."
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
    f = result["flops"]
    lines += [
        "",
        "## Large dense model (energy + ∂E/∂g) against the matmul roof",
        "",
        f"Layers {f['shape'][1]} (tanh) and {f['shape'][2]} (relu), batch {f['shape'][0]}; "
        "energy + gradient counted as two matmuls of that shape.",
        "",
        "| | GFLOP/s | fraction of plain matmul (target ≥ 90 %) |",
        "|---|---|---|",
        f"| plain `a @ W` | {f['matmul_gflops']:.1f} | 100 % |",
        f"| hamux_graph | {f['hg_gflops']:.1f} | {f['hg_fraction_of_roof']:.0%} |",
        f"| hand-written | {f['hw_gflops']:.1f} | {f['hw_fraction_of_roof']:.0%} |",
        "",
    ]
    lines += ET.markdown_rows(result.get("et", []))
    if not hx:
        lines.append(
            "(The reference `hamux` package was not installed: no column for it. "
            "`pip install hamux==0.2.2 fastcore` adds one.)"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (a few minutes on 2 cores)")
    p.add_argument("--out", default=None, help="JSON output path (default benchmarks/results/<date>.json)")
    p.add_argument("--only", default=None, choices=["models", "compile", "flops", "et"], help="run one section")
    p.add_argument("--no-hamux", action="store_true", help="skip the reference hamux column even if installed")
    args = p.parse_args(argv)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "hamux_graph": hg.__version__,
        "backend": jax.default_backend(),
        "quick": args.quick,
        "loadavg": os.getloadavg(),
    }
    hamux = HX.available() and not args.no_hamux
    if hamux:
        import importlib.metadata

        result["hamux_version"] = importlib.metadata.version("hamux")
    if args.only in (None, "compile"):
        result["compile"] = bench_compile(args.quick, hamux)
    if args.only in (None, "models"):
        result["models"] = bench_models(args.quick, hamux)
    if args.only in (None, "flops"):
        result["flops"] = bench_flops(args.quick)
    if args.only in (None, "et"):
        result["et"] = ET.bench_et(args.quick, alternate, calls_for)
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


if __name__ == "__main__":
    main()
