"""Energy Transformer rows of the benchmark: the zoo's ET against the ET energy written by hand.

Three rows, each checked for agreement before anything is timed:

- the full-size ET block (197 tokens of D = 768, 12 heads, Y = 64, M = 3072): energy + ∂E/∂g
  at batch 1 and 8, and ``run`` (a few Euler steps, every token free);
- a small ET (65 tokens of D = 128, 4 heads, Y = 32, M = 512) at batch 1 and 64;
- masked-patch completion on the small ET: ``run`` with the visible patch tokens held
  (a boolean clamp mask from ``hg.vision``) against a hand-written loop that computes the
  update of every token and then puts the visible ones back.

The hand-written ET: ``g = γ(x − x̄)/√(var + eps) + δ`` per token, the layer's Legendre energy
``Σ g·x − Σ [D γ √(var + eps) + δ·x]``, attention ``−(1/β) Σ_h Σ_q logsumexp_k(β Q·K)`` and
memory ``−½ Σ relu(g Ξ)²``; ``∂E/∂g = x + ∂(attention + memory)/∂g`` by one VJP.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import models as M
from jax import lax

import hamux_graph as hg


FULL = dict(image_shape=(224, 224, 3), patch_size=(16, 16), dim=768, num_heads=12, zspace_dim=64, num_memories=3072)
SMALL = dict(image_shape=(32, 32, 3), patch_size=(4, 4), dim=128, num_heads=4, zspace_dim=32, num_memories=512)


def _params(model):
    att, mem = model.synapse("attention"), model.synapse("memory")
    lag = model.lagrangians[model.layer_index("tokens")]
    beta = float(att.hidden_lagrangian.beta)
    return {"Wq": att.Wq, "Wk": att.Wk, "Xi": mem.Ws[0], "gamma": lag.gamma, "delta": lag.delta}, beta, lag.eps


def handwritten(model):
    """``(params, energy_and_dEdg, run, masked_run)`` for the ET ``model``: plain batched jnp.

    The weights are arguments of the jitted functions (as the library's are), not constants
    baked into the compiled code.
    """
    params, beta, eps = _params(model)

    def layer(p, x):
        D = x.shape[-1]
        xc = x - jnp.mean(x, -1, keepdims=True)
        s = jnp.sqrt(jnp.mean(xc * xc, -1, keepdims=True) + eps)
        g = p["gamma"] * xc / s + p["delta"]
        lag = jnp.sum(D * p["gamma"] * s[..., 0], -1) + jnp.sum(p["delta"] * x, (-2, -1))
        return g, jnp.sum(g * x, (-2, -1)) - lag

    def synapses(p, g):
        # tokens-first projections, as in the published ET code (faster on CPU than heads first)
        Q = jnp.einsum("btd,dhz->bthz", g, p["Wq"])
        K = jnp.einsum("btd,dhz->bthz", g, p["Wk"])
        A = jax.nn.logsumexp(beta * jnp.einsum("bqhz,bkhz->bhqk", Q, K), -1)
        h = jnp.maximum(g @ p["Xi"], 0.0)
        return -jnp.sum(A, (1, 2)) / beta - 0.5 * jnp.sum(h * h, (1, 2))

    def energy_and_dEdg(p, x):
        g, el = layer(p, x)
        es, vjp = jax.vjp(lambda g: synapses(p, g), g)
        (dg,) = vjp(jnp.ones_like(es))
        return el + es, x + dg

    def run(p, x, dt, steps):
        def body(x, _):
            e, d = energy_and_dEdg(p, x)
            return x - dt * d, e

        final, es = lax.scan(body, x, None, length=steps)
        return final, jnp.concatenate([es, energy_and_dEdg(p, final)[0][None]])

    def masked_run(p, x, held, dt, steps):
        def body(x, _):
            e, d = energy_and_dEdg(p, x)
            return jnp.where(held, x, x - dt * d), e

        final, es = lax.scan(body, x, None, length=steps)
        return final, jnp.concatenate([es, energy_and_dEdg(p, final)[0][None]])

    return (
        params,
        jax.jit(energy_and_dEdg),
        jax.jit(run, static_argnames="steps"),
        jax.jit(masked_run, static_argnames="steps"),
    )


def bench_et(quick: bool, alternate, calls_for) -> list[dict]:
    """Time the ET rows; ``alternate`` and ``calls_for`` are run.py's timing helpers."""
    rounds = 5 if quick else 11
    rows = []
    with jax.default_matmul_precision("highest"):
        for label, cfg, batches, steps in (
            ("ET block 197x768, 12 heads, M=3072", FULL, (None, 8), 3 if quick else 5),
            ("ET small 65x128, 4 heads, M=512", SMALL, (None, 64), 20),
        ):
            model = hg.zoo.create("energy_transformer", **cfg).compile(key=jax.random.key(0))
            p, hw_eg, hw_run, hw_masked = handwritten(model)
            T, D = model.shapes[0]
            for batch in batches:
                b = 1 if batch is None else batch
                x = jax.random.normal(jax.random.key(1), (b, T, D))
                xs = {"tokens": x if batch is not None else x[0]}
                e1, d1 = model.energy_and_dEdg(xs)
                e2, d2 = hw_eg(p, x)
                sq = (lambda a: a) if batch is not None else (lambda a: a[0])
                M.assert_close(
                    (e1, d1["tokens"]), (sq(e2), sq(d2)), f"{label} energy+grad batch={b}", rtol=1e-4, atol=1e-3
                )
                dt = jnp.float32(0.01)
                r1 = model.run(xs, steps=steps, dt=dt)
                r2 = hw_run(p, x, dt, steps)
                M.assert_close(
                    (r1[0]["tokens"], r1[1]),
                    (sq(r2[0]), r2[1] if batch is not None else r2[1][:, 0]),
                    f"{label} run batch={b}",
                    rtol=1e-3,
                    atol=1e-2,
                )
                t, q = alternate(
                    {"hw": lambda: hw_eg(p, x), "hg": lambda: model.energy_and_dEdg(xs)},
                    calls_for(lambda: hw_eg(p, x)),
                    rounds,
                )
                runs = {"hw": lambda: hw_run(p, x, dt, steps), "hg": lambda: model.run(xs, steps=steps, dt=dt)}
                tr, qr = alternate(runs, calls_for(runs["hw"], 0.2), rounds)
                rows.append(_row(label, b, steps, t, q, tr, qr, "none"))
                _print(rows[-1])
            if cfg is SMALL:
                pipe = hg.vision.patch_pipeline(cfg["image_shape"], cfg["patch_size"], D, key=jax.random.key(2))
                b = 64
                mask = hg.vision.random_mask(T - 1, (T - 1) // 2, key=jax.random.key(3), batch_size=b)
                x = pipe.encode(jax.random.uniform(jax.random.key(4), (b,) + cfg["image_shape"]), mask)
                clamp = pipe.clamp(mask)
                held = clamp["tokens"]
                dt = jnp.float32(0.01)
                r1 = model.run({"tokens": x}, steps=steps, dt=dt, clamp=clamp)
                r2 = hw_masked(p, x, held, dt, steps)
                M.assert_close((r1[0]["tokens"], r1[1]), r2, f"{label} masked run", rtol=1e-3, atol=1e-2)
                runs = {
                    "hw": lambda: hw_masked(p, x, held, dt, steps),
                    "hg": lambda: model.run({"tokens": x}, steps=steps, dt=dt, clamp=clamp),
                }
                tr, qr = alternate(runs, calls_for(runs["hw"], 0.2), rounds)
                rows.append(
                    _row(label + ", masked completion (half the patches held)", b, steps, None, None, tr, qr, "mask")
                )
                _print(rows[-1])
    return rows


def _row(label, batch, steps, t, q, tr, qr, clamp):
    row = {
        "model": label,
        "batch": batch,
        "steps": steps,
        "run_steps_per_s_hg": steps / tr["hg"],
        "run_steps_per_s_hw": steps / tr["hw"],
        "run_throughput_ratio": 1.0 / qr["hg"],
        "clamp": clamp,
    }
    if t is not None:
        row.update(eg_us_hg=t["hg"] * 1e6, eg_us_hw=t["hw"] * 1e6, eg_ratio=q["hg"])
    return row


def _print(r):
    eg = (
        f"energy+grad {r['eg_us_hg']:10.1f} us vs {r['eg_us_hw']:10.1f} us (x{r['eg_ratio']:.3f}); "
        if "eg_ratio" in r
        else ""
    )
    print(
        f"{r['model']:60s} batch {r['batch']:3d}: {eg}run {r['run_steps_per_s_hg']:8.1f} vs "
        f"{r['run_steps_per_s_hw']:8.1f} steps/s (x{r['run_throughput_ratio']:.3f})",
        flush=True,
    )


def markdown_rows(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## Energy Transformer (`hg.zoo.energy_transformer` against the ET energy written by hand)",
        "",
        "Energy + ∂E/∂g per call and `run` throughput (steps/s); the masked row holds the visible "
        "patch tokens with a boolean clamp (`hg.vision.PatchPipeline.clamp`) against a hand-written "
        "loop that updates every token and puts the visible ones back. matmul precision `highest`.",
        "",
        "| model | batch | steps | energy+∂E/∂g hg (µs) | hand-written (µs) | time ratio | run steps/s hg | hand-written | throughput ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        eg = f"{r['eg_us_hg']:.0f} | {r['eg_us_hw']:.0f} | **{r['eg_ratio']:.3f}**" if "eg_ratio" in r else "— | — | —"
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {eg} | {r['run_steps_per_s_hg']:.1f} | "
            f"{r['run_steps_per_s_hw']:.1f} | **{r['run_throughput_ratio']:.3f}** |"
        )
    return lines
