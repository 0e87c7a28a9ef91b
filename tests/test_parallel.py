"""Tests for data-parallel training (hamux_graph.parallel + train.make_train_step(mesh=...))."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import hamux_graph as hg

# Runs in a fresh interpreter: the host-device count must be set before jax is imported.
_SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import json
    import jax, jax.numpy as jnp, numpy as np, optax, equinox as eqx
    import hamux_graph as hg
    from hamux_graph import parallel, train

    assert len(jax.devices()) == 4, jax.devices()
    model = hg.zoo.hn((6,), 3, nhid=16, stdinit=0.3).compile(key=jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (16, 6))
    y = jnp.arange(16) % 3
    opt = optax.adam(1e-2)

    def loss_fn(m, x, t):
        return train.cross_entropy(train.forward(m, x, steps=4, dt=0.5, read="logits"), t)

    def run(mesh):
        step = train.make_train_step(opt, loss_fn, mesh=mesh)
        m, s = model, train.init_opt_state(opt, model)
        xb, yb = x, y
        if mesh is not None:
            m, s = parallel.replicate(m, mesh), parallel.replicate(s, mesh)
            xb, yb = parallel.shard_batch((x, y), mesh)
        losses = []
        for _ in range(3):
            m, s, loss = step(m, s, xb, yb)
            losses.append(float(loss))
        return m, losses, xb

    m1, l1, _ = run(None)
    mesh = parallel.batch_mesh(4)
    m4, l4, xb4 = run(mesh)
    leaves1 = jax.tree.leaves(eqx.filter(m1, eqx.is_inexact_array))
    leaves4 = jax.tree.leaves(eqx.filter(m4, eqx.is_inexact_array))
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves1, leaves4))
    w4 = m4.synapse("hidden").Ws[0]
    print(json.dumps({
        "losses1": l1, "losses4": l4, "max_param_diff": diff,
        "batch_devices": len(xb4.sharding.device_set),
        "batch_shard_shape": list(xb4.addressable_shards[0].data.shape),
        "param_devices": len(w4.sharding.device_set),
        "param_replicated": bool(w4.sharding.is_fully_replicated),
        "changed": float(jnp.max(jnp.abs(w4 - model.synapse("hidden").Ws[0]))),
    }))
    """
)


def test_four_device_step_matches_one_device_step():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["batch_devices"] == 4 and out["batch_shard_shape"] == [4, 6]
    assert out["param_devices"] == 4 and out["param_replicated"]
    assert out["changed"] > 1e-4  # training moved the weights
    for a, b in zip(out["losses1"], out["losses4"]):
        assert abs(a - b) < 1e-5
    assert out["max_param_diff"] < 1e-5


def test_mesh_and_sharding_errors():
    n = len(jax.devices())
    with pytest.raises(hg.ArgumentError, match="n_devices"):
        hg.parallel.batch_mesh(n + 1)
    mesh = hg.parallel.batch_mesh(1)
    assert mesh.axis_names == ("batch",)
    x = hg.parallel.shard_batch(jnp.ones((3, 2)), mesh)
    assert x.shape == (3, 2)
    with pytest.raises(hg.ArgumentError, match="leading axis"):
        hg.parallel.shard_batch(jnp.ones(()), mesh)
