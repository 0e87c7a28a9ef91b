"""A small strongly convex model and its energy and gradient written out by hand in numpy.

``v`` (identity, 5) -- ``h`` (tanh, 6, with a self-coupling) -- ``o`` (tanh, 4, tau 2): one
fixed point that every driver (Euler, relax, the ODE solve) must reach, and the formulas to
check it against (``np_energy``, ``np_dEdg``, on one sample in float64).
"""

from __future__ import annotations

import jax
import numpy as np

import hamux_graph as hg


def make_model(key):
    """v (identity, 5) -- h (tanh, 6, with a self-coupling) -- o (tanh, 4): strongly convex."""
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((5,)))
    ham.add_layer("h", hg.TanhLayer((6,)))
    ham.add_layer("o", hg.TanhLayer((4,), tau=2.0))
    ham.add_synapse("vh", hg.DenseSynapse(stdinit=0.3), layers=("v", "h"))
    ham.add_synapse("hh", hg.DenseSynapse(stdinit=0.1), layers=("h", "h"))
    ham.add_synapse("ho", hg.DenseSynapse(stdinit=0.4), layers=("h", "o"))
    return ham.compile(key=key)


def weights(model):
    return {n: np.asarray(model.synapse(n).W, np.float64) for n in ("vh", "hh", "ho")}


def np_dEdg(W, x):
    """∂E/∂g written out by hand for the graph above (one sample)."""
    gv, gh, go = x["v"], np.tanh(x["h"]), np.tanh(x["o"])
    return {
        "v": x["v"] - W["vh"] @ gh,
        "h": x["h"] - W["vh"].T @ gv - (W["hh"] + W["hh"].T) @ gh - W["ho"] @ go,
        "o": x["o"] - W["ho"].T @ gh,
    }


def np_energy(W, x):
    gv, gh, go = x["v"], np.tanh(x["h"]), np.tanh(x["o"])
    e_layers = 0.5 * gv @ gv
    for u, g in ((x["h"], gh), (x["o"], go)):
        e_layers += g @ u - np.sum(np.log(np.cosh(u)))
    return e_layers - gv @ W["vh"] @ gh - gh @ W["hh"] @ gh - gh @ W["ho"] @ go


def init(model, key, batch=3):
    k1, k2 = jax.random.split(key)
    xs = model.init_states(batch_size=batch, key=k1)
    xs["v"] = jax.random.normal(k2, (batch, 5))
    return xs


def sample(xs, b):
    return {k: np.asarray(v[b], np.float64) for k, v in xs.items()}
