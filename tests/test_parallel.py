"""Tests for data-parallel training (hamux_graph.parallel + train.make_train_step(mesh=...))."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


def _p(spec_text: str) -> str:
    """A PartitionSpec's text as newer jax prints it (older jax writes PartitionSpec(...))."""
    return spec_text.replace("PartitionSpec(", "P(")


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
        m, xb, yb = model, x, y
        if mesh is not None:  # replicated on a batch mesh; nhid split over "model" on a 2-D one
            m = parallel.shard_model(m, mesh)
            xb, yb = parallel.shard_batch((x, y), mesh)
        s = train.init_opt_state(opt, m)
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
    # data- and model-parallel: batch over 2 devices, the hidden axis over 2
    m22, l22, _ = run(parallel.make_mesh(data=2, model=2))
    leaves22 = jax.tree.leaves(eqx.filter(m22, eqx.is_inexact_array))
    w22 = m22.synapse("hidden").Ws[0]
    print(json.dumps({
        "losses22": l22,
        "max_param_diff22": max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves1, leaves22)),
        "w22_spec": str(w22.sharding.spec),
        "w22_shards": sorted({tuple(s.data.shape) for s in w22.addressable_shards}),
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
    assert _p(out["w22_spec"]) == "P(None, 'model')" and out["w22_shards"] == [[6, 8]]  # nhid 16 over 2
    assert max(abs(a - b) for a, b in zip(out["losses1"], out["losses22"])) < 1e-5
    assert out["max_param_diff22"] < 1e-5


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


@pytest.mark.bad_arguments
def test_model_parallel_argument_errors(monkeypatch):
    n = len(jax.devices())
    with pytest.raises(hg.ArgumentError, match=rf"needs {n + 1} devices, but {n} exist"):
        hg.parallel.make_mesh(data=n + 1)
    with pytest.raises(hg.ArgumentError, match="make_mesh: model must be an int >= 1, got 0"):
        hg.parallel.make_mesh(model=0)
    with pytest.raises(hg.ArgumentError, match=r"make_mesh: data must be an int >= 1, got 1.5 \(float\)"):
        hg.parallel.make_mesh(data=1.5)
    ham = hg.zoo.modern_hopfield(input_shape=(4,), num_memories=8)
    with pytest.raises(hg.ArgumentError, match="HAM.compile: mesh must be a jax.sharding.Mesh"):
        ham.compile(key=jax.random.key(0), mesh=(1, 1))
    with pytest.raises(hg.ArgumentError, match="make_train_step: mesh must be"):
        hg.train.make_train_step(None, None, mesh="data")
    with pytest.raises(hg.ArgumentError, match="shard_model takes a compiled model"):
        hg.parallel.shard_model(ham, hg.parallel.make_mesh(data=1, model=1))
    mesh = hg.parallel.make_mesh(data=1, model=1)
    with pytest.raises(hg.ArgumentError, match="process_slice: batch_size must be an int >= 1, got 0"):
        hg.parallel.process_slice(0, mesh)
    with pytest.raises(hg.ArgumentError, match="leading axis"):
        hg.parallel.process_batch(np.float32(1.0), mesh)
    for var in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(hg.ArgumentError, match=r"missing coordinator_address \(or JAX_COORDINATOR_ADDRESS\)"):
        hg.parallel.initialize(num_processes=2, process_id=0)
    with pytest.raises(hg.ArgumentError, match=r"process_id must be an int in \[0, 1\], got 2"):
        hg.parallel.initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(hg.ArgumentError, match="'host:port'"):
        hg.parallel.initialize("127.0.0.1", 2, 0)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(hg.ArgumentError, match="JAX_NUM_PROCESSES='two' is not an int"):
        hg.parallel.initialize()


def test_layout_per_synapse_type():
    mesh = hg.parallel.make_mesh(data=1, model=1)

    def abstract(ham):  # the layout needs shapes only: no parameters are drawn
        return eqx.filter_eval_shape(lambda k: ham.compile(key=k), jax.random.key(0))

    cls = hg.zoo.create("energy_attn", input_shape=(8, 8, 1), num_classes=10, dim=8, nhid=16)
    specs = {k: tuple(v) for k, v in hg.parallel.parameter_specs(abstract(cls), mesh).items()}
    assert specs["synapses/self_attn/Wq"] == specs["synapses/cross_attn/Wk"] == (None, "model", None)  # heads
    assert specs["synapses/hidden/Ws/0"] == (None, "model")  # the Hopfield block: nhid
    assert specs["synapses/patch/kernel"] == ()  # convolutions stay replicated
    hn = abstract(hg.zoo.create("hn", input_shape=(4,), num_classes=3, nhid=8))
    got = hg.parallel.parameter_specs(hn, mesh)
    assert tuple(got["synapses/hidden/Ws/0"]) == (None, "model") and tuple(got["synapses/hidden/Ws/1"]) == (
        None,
        "model",
    )
    assert tuple(got["layers/label/bias"]) == () and tuple(got["layers/label/lagrangian/beta"]) == ()
    plain = hg.parallel.parameter_specs(hn, hg.parallel.batch_mesh(1))  # no model axis: all replicated
    assert all(tuple(v) == () for v in plain.values())


# ---- model parallelism: sharded == unsharded on forced CPU devices (in a fresh interpreter) -----

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SHARDED = textwrap.dedent(
    """
    import os, sys
    n, full = int(sys.argv[1]), sys.argv[2] == "full"
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import json, time
    import jax, jax.numpy as jnp, numpy as np, optax, equinox as eqx
    import hamux_graph as hg
    from hamux_graph import parallel, train

    out, times, t0 = {}, {}, time.perf_counter()

    def lap(name):
        global t0
        times[name] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()

    def train_step(mesh2):
        cls = hg.zoo.hn((6,), 3, nhid=8 * n, stdinit=0.3)
        c0 = cls.compile(key=jax.random.key(3))
        c1 = cls.compile(key=jax.random.key(3), mesh=mesh2)
        x = jax.random.uniform(jax.random.key(4), (8, 6)); y = jnp.arange(8) % 3
        opt = optax.adam(1e-2)
        loss_fn = lambda m, x, t: train.cross_entropy(train.forward(m, x, steps=4, dt=0.5, read="logits"), t)
        spec = train.trainable(c0, freeze_lagrangians=True)
        m0, s0, l0 = train.make_train_step(opt, loss_fn, filter_spec=spec)(c0, train.init_opt_state(opt, c0, spec), x, y)
        xb, yb = parallel.shard_batch((x, y), mesh2)
        m1, s1, l1 = train.make_train_step(opt, loss_fn, filter_spec=spec, mesh=mesh2)(c1, train.init_opt_state(opt, c1, spec), xb, yb)
        out["train_params"] = gap(m1, m0)
        out["train_opt"] = gap(s1, s0)
        out["train_loss"] = abs(float(l1) - float(l0))
        w = m1.synapse("hidden").Ws[0]
        out["train_w_spec"] = str(w.sharding.spec)
        out["train_mu_spec"] = str(s1[0].mu.synapses[0].Ws[0].sharding.spec)
        out["train_w_shards"] = sorted({tuple(s.data.shape) for s in w.addressable_shards})
        out["batch_shards"] = sorted({tuple(s.data.shape) for s in xb.addressable_shards})
        lap("train")

    def gap(a, b):
        la, lb = jax.tree.leaves(eqx.filter(a, eqx.is_array)), jax.tree.leaves(eqx.filter(b, eqx.is_array))
        assert len(la) == len(lb)
        return max(float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32)))) for x, y in zip(la, lb))

    # a modern Hopfield memory of K patterns, split along K over all n devices
    N, K = 16, 16 * n
    ham = hg.zoo.modern_hopfield(input_shape=(N,), num_memories=K, beta=0.5)
    mesh = parallel.make_mesh(data=1, model=n)
    plain = ham.compile(key=jax.random.key(0))
    born = ham.compile(key=jax.random.key(0), mesh=mesh)           # created sharded
    model = parallel.shard_model(plain, mesh)
    out["compile_gap"] = gap(born, plain)
    lap("compile")
    W = born.synapse("store").W
    out["w_shards"] = sorted({tuple(s.data.shape) for s in W.addressable_shards})
    out["w_devices"] = len(W.sharding.device_set)
    out["specs"] = {k: str(v) for k, v in parallel.parameter_specs(model, mesh).items()}
    xs = plain.init_states(batch_size=4, key=jax.random.key(1))
    xs["visible"] = jax.random.normal(jax.random.key(2), (4, N))
    sx = parallel.shard_states(model, xs, mesh)
    out["mem_state_shards"] = sorted({tuple(s.data.shape) for s in sx["memories"].addressable_shards})
    out["energy"] = float(jnp.max(jnp.abs(model.energy(sx) - plain.energy(xs))))
    out["dEdg"] = gap(model.dEdg(sx), plain.dEdg(xs))
    lap("energy")
    (r1, e1), (r0, e0) = model.run(sx, steps=30, dt=0.05), plain.run(xs, steps=30, dt=0.05)
    out["run"] = max(gap(r1, r0), float(jnp.max(jnp.abs(e1 - e0))))
    out["run_out_shards"] = sorted({tuple(s.data.shape) for s in r1["memories"].addressable_shards})
    lap("run")
    q1 = model.relax(sx, dt=0.05, tol=1e-4, max_steps=3000)
    q0 = plain.relax(xs, dt=0.05, tol=1e-4, max_steps=3000)
    out["relax"] = gap(q1.states, q0.states)
    lap("relax")
    path = os.path.join(sys.argv[3], "sharded.hamux")
    hg.save(born, path)  # gathered from the devices' shards
    out["saved_gap"] = gap(hg.load(path), born)

    mesh2 = parallel.make_mesh(data=2, model=n // 2)
    if full:  # a classifier (hidden axis nhid split) on a 2-D mesh: one train step, batch over "data"
        train_step(mesh2)
    # errors that need devices
    errors = {}
    for name, fn in {
        "too_many": lambda: parallel.make_mesh(data=n, model=2),
        "indivisible": lambda: parallel.make_mesh(model=3) if n % 3 else None,
        "bad_size": lambda: parallel.make_mesh(data=0),
        "batch": lambda: parallel.shard_batch(jnp.ones((3, 2)), mesh2),
        "states": lambda: parallel.shard_states(model, plain.init_states(batch_size=3), parallel.make_mesh(data=2, model=1)),
        "not_a_mesh": lambda: parallel.shard_model(plain, "mesh"),
    }.items():
        try:
            fn()
            errors[name] = None
        except hg.ArgumentError as e:
            errors[name] = str(e)
    out["errors"] = errors
    lap("errors")
    out["times"] = times
    print(json.dumps(out))
    """
)


def _sharded_run(n: int, full: bool, folder) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _SHARDED, str(n), "full" if full else "short", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("n", [4, pytest.param(8, marks=pytest.mark.slow)])
def test_sharded_model_equals_unsharded(n, tmp_path):
    # at 4 devices the train step on a 2-D mesh is covered by test_four_device_step_matches_one_device_step
    out = _sharded_run(n, n == 8, tmp_path)
    N, K = 16, 16 * n
    assert out["w_devices"] == n and out["w_shards"] == [[N, K // n]]  # each device holds 1/n of W
    assert _p(out["specs"]["synapses/store/W"]) == "P(None, 'model')"
    assert _p(out["specs"]["layers/memories/lagrangian/beta"]) == "P()"
    assert out["mem_state_shards"] == [[4, K // n]] and out["run_out_shards"] == [[4, K // n]]
    assert out["compile_gap"] < 1e-6 and out["saved_gap"] == 0.0
    for k in ("energy", "dEdg", "run", "relax"):
        assert out[k] < 1e-5, (k, out[k])
    if n == 8:
        for k in ("train_params", "train_opt", "train_loss"):
            assert out[k] < 1e-5, (k, out[k])
        assert _p(out["train_w_spec"]) == _p(out["train_mu_spec"]) == "P(None, 'model')"
        assert out["train_w_shards"] == [[6, 16]]  # nhid = 8n over n/2 devices
        assert out["batch_shards"] == [[4, 6]]  # batch 8 over data = 2
    e = out["errors"]
    assert "needs" in e["too_many"] and "exist" in e["too_many"]
    assert e["indivisible"] is None or "does not divide" in e["indivisible"]
    assert "data must be an int >= 1" in e["bad_size"]
    assert "divisible by 2" in e["batch"] and "divisible by 2" in e["states"]
    assert "jax.sharding.Mesh" in e["not_a_mesh"]


# ---- two processes on localhost: the same train step as one process with 4 devices -----------

_PROCESS = textwrap.dedent(
    """
    import os, sys
    pid, nproc, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={4 // nproc}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import json
    import jax
    import hamux_graph as hg
    if nproc > 1:  # CPU collectives across processes: gloo (jax's default for CPU here)
        hg.parallel.initialize(f"127.0.0.1:{port}", nproc, pid)
    import numpy as np, optax
    from hamux_graph import parallel, train

    mesh = parallel.make_mesh(data=2, model=2)
    model = hg.zoo.hn((6,), 3, nhid=16, stdinit=0.3).compile(key=jax.random.key(0), mesh=mesh)
    x = np.asarray(jax.random.uniform(jax.random.key(1), (16, 6)), np.float32)
    y = np.arange(16) % 3
    opt = optax.adam(1e-2)
    loss_fn = lambda m, x, t: train.cross_entropy(train.forward(m, x, steps=4, dt=0.5, read="logits"), t)
    step = train.make_train_step(opt, loss_fn, mesh=mesh)
    state = train.init_opt_state(opt, model)
    xb, yb = parallel.process_batch((x, y), mesh)  # each process copies only its rows
    for _ in range(2):
        model, state, loss = step(model, state, xb, yb)
    hg.save(model, out)  # gathered; written by process 0
    ckpt = train.Checkpointer(out + ".ckpt", every=2)
    ckpt.save(train.TrainState(model, state, 2, jax.random.key(7)))
    fresh = hg.zoo.hn((6,), 3, nhid=16, stdinit=0.3).compile(key=jax.random.key(9), mesh=mesh)
    back = ckpt.restore(train.TrainState(fresh, train.init_opt_state(opt, fresh)))
    same = all(bool((a == b).all()) for a, b in zip(parallel.gather(jax.tree.leaves(model)), parallel.gather(jax.tree.leaves(back.model))))
    w = model.synapse("hidden").Ws[0]
    print(json.dumps({
        "process": jax.process_index(), "processes": jax.process_count(), "devices": len(jax.devices()),
        "rows": [parallel.process_slice(16, mesh).start, parallel.process_slice(16, mesh).stop],
        "local_w_shards": sorted({tuple(s.data.shape) for s in w.addressable_shards}), "loss": float(loss),
        "restored_step": back.step, "restored_same": same, "restored_spec": str(back.model.synapse("hidden").Ws[0].sharding.spec),
    }))
    """
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process_with_four_devices(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COORDINATOR_ADDRESS")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    port, two = _free_port(), str(tmp_path / "two.hamux")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, str(i), "2", str(port), two],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    one = subprocess.run(
        [sys.executable, "-c", _PROCESS, "0", "1", "0", str(tmp_path / "one.hamux")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    single = json.loads(one.stdout.strip().splitlines()[-1])
    assert [o["process"] for o in outs] == [0, 1] and all(o["processes"] == 2 and o["devices"] == 4 for o in outs)
    assert [o["rows"] for o in outs] == [[0, 8], [8, 16]] and single["rows"] == [0, 16]
    assert all(o["local_w_shards"] == [[6, 8]] for o in outs)  # nhid 16 split over model = 2
    assert all(
        o["restored_step"] == 2 and o["restored_same"] and _p(o["restored_spec"]) == "P(None, 'model')"
        for o in outs + [single]
    )
    a, b = hg.load(two), hg.load(tmp_path / "one.hamux")
    la, lb = jax.tree.leaves(eqx.filter(a, eqx.is_array)), jax.tree.leaves(eqx.filter(b, eqx.is_array))
    rel = max(float(jnp.max(jnp.abs(x - y)) / jnp.maximum(jnp.max(jnp.abs(y)), 1e-30)) for x, y in zip(la, lb))
    assert rel <= 1e-6, rel
    assert abs(outs[0]["loss"] - single["loss"]) <= 1e-6 * abs(single["loss"])
    print(f"two processes vs one: max relative parameter difference {rel:.3g}")
