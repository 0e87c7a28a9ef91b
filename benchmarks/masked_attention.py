"""Masked attention rows of the benchmark: a masked ``SelfAttentionSynapse`` at 197 tokens.

One token layer of 197 tokens (D = 768, ET's layer norm) and one ``SelfAttentionSynapse``
(12 heads, Y = 64, ``LSoftmax(1/8)``), energy + ∂E/∂g per call, in three versions timed in
alternating rounds in one process:

- ``hg``: the synapse with a graph mask (each token attends itself and 15 random others,
  ``hg.attention_mask`` of a random graph) and with ``mask="causal"``;
- ``hg unmasked``: the same synapse without a mask;
- ``hw``: hand-written JAX, the scores of disallowed pairs set to ``−∞`` before the
  log-sum-exp (``jnp.where(mask, S, −inf)``), the layer norm written out, ``∂E/∂g`` by one VJP.

Ratios are medians of per-round ratios against the hand-written masked version.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import models as M
import networkx as nx
import numpy as np

import hamux_graph as hg


TOKENS, DIM, HEADS, ZDIM = 197, 768, 12, 64


def graph_mask(n, neighbours, seed=0):
    G = nx.random_regular_graph(neighbours, n, seed=seed)
    return hg.attention_mask(G)


def build(mask):
    ham = hg.HAM()
    ham.add_layer("tokens", hg.LayerNormLayer((TOKENS, DIM), gamma=1.0, delta=[0.0] * DIM))
    ham.add_synapse(
        "attention",
        hg.SelfAttentionSynapse(
            num_heads=HEADS, zspace_dim=ZDIM, hidden_lagrangian=hg.LSoftmax(beta=1 / np.sqrt(ZDIM)), mask=mask
        ),
        layers=("tokens",),
    )
    return ham.compile(key=jax.random.key(0))


def handwritten(model, allowed):
    att = model.synapse("attention")
    lag = model.lagrangians[model.layer_index("tokens")]
    beta, eps = float(att.hidden_lagrangian.beta), lag.eps
    params = {"Wq": att.Wq, "Wk": att.Wk, "gamma": lag.gamma, "delta": lag.delta}
    keep = jnp.asarray(allowed)

    def energy_and_dEdg(p, x):
        D = x.shape[-1]
        xc = x - jnp.mean(x, -1, keepdims=True)
        s = jnp.sqrt(jnp.mean(xc * xc, -1, keepdims=True) + eps)
        g = p["gamma"] * xc / s + p["delta"]
        el = jnp.sum(g * x) - (jnp.sum(D * p["gamma"] * s) + jnp.sum(p["delta"] * x))

        def attention(g):
            Q = jnp.einsum("td,dhz->thz", g, p["Wq"])
            K = jnp.einsum("td,dhz->thz", g, p["Wk"])
            S = jnp.where(keep[None], jnp.einsum("qhz,khz->hqk", Q, K), -jnp.inf)
            return -jnp.sum(jax.nn.logsumexp(beta * S, -1)) / beta

        ea, vjp = jax.vjp(attention, g)
        (dg,) = vjp(jnp.ones_like(ea))
        return el + ea, x + dg

    return params, jax.jit(energy_and_dEdg)


def bench_masked_attention(quick: bool, alternate, calls_for) -> list[dict]:
    """Time the masked-attention rows; ``alternate`` and ``calls_for`` are run.py's timing helpers."""
    rounds = 7 if quick else 15
    rows = []
    x = jax.random.normal(jax.random.key(1), (TOKENS, DIM))
    xs = {"tokens": x}
    with jax.default_matmul_precision("highest"):
        unmasked = build(None)
        for label, mask in (("graph mask, 16 keys per token", graph_mask(TOKENS, 15)), ("causal", "causal")):
            model = build(mask)
            allowed = np.tri(TOKENS, dtype=bool) if isinstance(mask, str) else mask
            p, hw = handwritten(model, allowed)
            e1, d1 = model.energy_and_dEdg(xs)
            M.assert_close((e1, d1["tokens"]), hw(p, x), f"masked attention ({label})", rtol=1e-4, atol=1e-3)
            fns = {
                "hw": lambda p=p, hw=hw: hw(p, x),
                "hg": lambda model=model: model.energy_and_dEdg(xs),
                "hg_unmasked": lambda: unmasked.energy_and_dEdg(xs),
            }
            t, q = alternate(fns, calls_for(fns["hw"]), rounds)
            row = {
                "model": f"SelfAttentionSynapse {TOKENS}x{DIM}, {HEADS} heads, {label}",
                "density": float(np.asarray(allowed).mean()),
                "us_hg": t["hg"] * 1e6,
                "us_hw": t["hw"] * 1e6,
                "us_hg_unmasked": t["hg_unmasked"] * 1e6,
                "ratio_hw": q["hg"],
                "ratio_unmasked": q["hg"] / q["hg_unmasked"],
            }
            rows.append(row)
            print(
                f"{row['model']:70s} {row['us_hg']:9.0f} us vs hand-written {row['us_hw']:9.0f} us "
                f"(x{row['ratio_hw']:.3f}); unmasked {row['us_hg_unmasked']:9.0f} us (masked/unmasked "
                f"x{row['ratio_unmasked']:.3f})",
                flush=True,
            )
    return rows


def markdown_rows(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## Masked attention (`SelfAttentionSynapse(mask=...)` at 197 tokens against masked attention written by hand)",
        "",
        "Energy + ∂E/∂g per call of one layer-norm token layer and a masked self-attention synapse; the "
        "hand-written version sets disallowed scores to −∞ before the log-sum-exp. matmul precision `highest`.",
        "",
        "| model | mask density | hg (µs) | hand-written (µs) | ratio | hg unmasked (µs) | masked / unmasked |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['density']:.3f} | {r['us_hg']:.0f} | {r['us_hw']:.0f} | **{r['ratio_hw']:.3f}** | "
            f"{r['us_hg_unmasked']:.0f} | {r['ratio_unmasked']:.3f} |"
        )
    return lines
