"""Masked attention rows of the benchmark: a masked ``SelfAttentionSynapse`` at 197 tokens.

One token layer of 197 tokens (D = 768, ET's layer norm) and one ``SelfAttentionSynapse``
(12 heads, Y = 64, ``LSoftmax(1/8)``), energy + ∂E/∂g per call, in three versions timed in
alternating rounds in one process:

- ``hg``: the synapse with a graph mask (each token attends itself and its 16 neighbours in a
  random 16-regular graph, ``hg.attention_mask``) and with ``mask="causal"``;
- ``hg unmasked``: the same synapse without a mask;
- ``hw``: hand-written JAX, the scores of disallowed pairs set to ``−∞`` before the
  log-sum-exp (``jnp.where(mask, S, −inf)``), the layer norm written out, ``∂E/∂g`` by one VJP.

Ratios are medians of per-round ratios against the hand-written masked version.
"""

from __future__ import annotations

import statistics

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


def bench_masked_attention(quick: bool, alternate_rounds, calls_for, rounds: int | None = None) -> list[dict]:
    """Time the masked-attention rows; ``alternate_rounds`` and ``calls_for`` are run.py's timing helpers."""
    rounds = rounds or (15 if quick else 31)
    rows = []
    x = jax.random.normal(jax.random.key(1), (TOKENS, DIM))
    xs = {"tokens": x}
    with jax.default_matmul_precision("highest"):
        unmasked = build(None)
        for label, mask in (("16-regular graph mask + self", graph_mask(TOKENS, 16)), ("causal", "causal")):
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
            times = alternate_rounds(fns, calls_for(fns["hw"], 0.3), rounds)  # ~0.3 s per measurement: less noise
            t = {k: statistics.median(v) for k, v in times.items()}
            per_round = {
                k: [a / b for a, b in zip(times["hg"], times[base])]
                for k, base in (("hw", "hw"), ("un", "hg_unmasked"))
            }
            row = {
                "model": f"SelfAttentionSynapse {TOKENS}x{DIM}, {HEADS} heads, {label}",
                "density": float(np.asarray(allowed).mean()),
                "rounds": rounds,
                "us_hg": t["hg"] * 1e6,
                "us_hw": t["hw"] * 1e6,
                "us_hg_unmasked": t["hg_unmasked"] * 1e6,
                "ratio_hw": statistics.median(per_round["hw"]),
                "ratio_hw_quartiles": [float(v) for v in np.percentile(per_round["hw"], [25, 75])],
                "ratio_unmasked": statistics.median(per_round["un"]),
                "ratio_unmasked_quartiles": [float(v) for v in np.percentile(per_round["un"], [25, 75])],
            }
            rows.append(row)
            print(
                f"{row['model']:70s} {row['us_hg']:9.0f} us vs hand-written {row['us_hw']:9.0f} us "
                f"(x{row['ratio_hw']:.3f}, quartiles {row['ratio_hw_quartiles'][0]:.3f}-"
                f"{row['ratio_hw_quartiles'][1]:.3f}); unmasked {row['us_hg_unmasked']:9.0f} us (masked/unmasked "
                f"x{row['ratio_unmasked']:.3f}, quartiles {row['ratio_unmasked_quartiles'][0]:.3f}-"
                f"{row['ratio_unmasked_quartiles'][1]:.3f})",
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
        "Ratios are medians of per-round ratios (in brackets: their quartiles over the rounds).",
        "",
        "| model | mask density | hg (µs) | hand-written (µs) | ratio | hg unmasked (µs) | masked / unmasked |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        qh, qu = r["ratio_hw_quartiles"], r["ratio_unmasked_quartiles"]
        lines.append(
            f"| {r['model']} | {r['density']:.3f} | {r['us_hg']:.0f} | {r['us_hw']:.0f} | **{r['ratio_hw']:.3f}** "
            f"[{qh[0]:.2f}–{qh[1]:.2f}] | {r['us_hg_unmasked']:.0f} | {r['ratio_unmasked']:.3f} [{qu[0]:.2f}–{qu[1]:.2f}] |"
        )
    return lines
