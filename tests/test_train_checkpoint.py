"""Tests for resumable training (hamux_graph.train.checkpoint: train.TrainState, train.Checkpointer)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import warnings

import equinox as eqx
import jax
import numpy as np
import optax
import pytest

import hamux_graph as hg
from hamux_graph import train


pytest.importorskip("orbax.checkpoint")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, BATCH, EPOCHS = 24, 4, 3  # 6 steps an epoch, 18 in all


def _data():
    x = np.asarray(jax.random.uniform(jax.random.key(5), (N, 4)))
    return x, np.arange(N) % 2


@functools.cache
def _setup():
    """The model, optimizer and one jitted step, shared by the tests (compiled once)."""
    model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=8, stdinit=0.3).compile(key=jax.random.key(0))
    opt = optax.adam(3e-2)

    def loss_fn(m, x, y):
        return train.cross_entropy(train.forward(m, x, steps=3, read="logits"), y)

    return model, opt, train.make_train_step(opt, loss_fn)


def _loop(ckpt=None, stop=None):
    """Train EPOCHS epochs (or until ``stop`` steps), checkpointing with ``ckpt``; resume from it."""
    x, y = _data()
    model, opt, step = _setup()
    state = train.TrainState(model, train.init_opt_state(opt, model), 0, jax.random.key(1), None, {"losses": []})
    resumed = None
    if ckpt is not None:
        restored = ckpt.restore(state)
        if restored is not None:
            state, resumed = restored, restored.step
    model, opt_state, n, info = state.model, state.opt_state, state.step, state.info
    per_epoch = N // BATCH
    for epoch in range(n // per_epoch, EPOCHS):
        order = train.epoch_order(state.key, epoch, N)
        if resumed is not None and epoch == n // per_epoch and n % per_epoch:
            assert np.array_equal(state.order, order)  # the saved data order is this run's
        for xb, yb in train.batches(
            x, y, batch_size=BATCH, order=order, start=n % per_epoch if epoch == n // per_epoch else 0
        ):
            model, opt_state, loss = step(model, opt_state, xb, yb)
            n += 1
            info["losses"].append(float(loss))
            if ckpt is not None:
                ckpt.save(train.TrainState(model, opt_state, n, state.key, order, info))
            if n == stop:
                return model, opt_state, n, resumed, info
    return model, opt_state, n, resumed, info


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def _same(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(la, lb))


def test_interrupted_run_resumes_bit_identically(tmp_path):
    ref_model, ref_opt, n, _, ref_info = _loop()
    assert n == EPOCHS * N // BATCH
    ckpt = train.Checkpointer(tmp_path / "run", every=4, keep=2)
    _loop(ckpt, stop=10)  # "killed" after step 10: checkpoints at 4 and 8, the last two kept
    assert ckpt.steps() == [4, 8]
    model, opt_state, n, resumed, info = _loop(train.Checkpointer(tmp_path / "run", every=4, keep=2))
    assert resumed == 8 and n == 18
    assert _same(model, ref_model) and _same(opt_state, ref_opt)
    assert info["losses"][8:] == ref_info["losses"][8:] and len(info["losses"]) == 18
    assert ckpt.steps() == [12, 16]


def test_restore_brings_back_every_field(tmp_path):
    model, opt, _ = _setup()
    state = train.TrainState(
        model, train.init_opt_state(opt, model), 7, jax.random.key(3), np.arange(5)[::-1], {"a": [1.5]}
    )
    ckpt = train.Checkpointer(tmp_path, every=7)
    assert ckpt.save(state) and not ckpt.save(state._replace(step=8))
    got = ckpt.restore(train.TrainState(model, train.init_opt_state(opt, model)))
    assert got.step == 7 and got.info == {"a": [1.5]} and got.order.tolist() == [4, 3, 2, 1, 0]
    assert jax.random.key_impl(got.key) == jax.random.key_impl(state.key)
    assert np.array_equal(jax.random.key_data(got.key), jax.random.key_data(state.key))
    assert _same(got.model, model)
    assert train.Checkpointer(tmp_path / "empty", every=1).restore(state) is None


def _damage(ckpt, step, how):
    folder = os.path.join(ckpt.directory, f"step_{step:09d}", "state")
    files = [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs]
    big = max(files, key=os.path.getsize)
    if how == "truncate":
        with open(big, "r+b") as f:
            f.truncate(os.path.getsize(big) // 2)
    else:  # flip one byte, same size
        with open(big, "r+b") as f:
            f.seek(os.path.getsize(big) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_damaged_newest_checkpoint_falls_back_with_a_warning(tmp_path, how):
    model, opt, _ = _setup()
    ckpt = train.Checkpointer(tmp_path, every=1, keep=3)
    base = train.TrainState(model, train.init_opt_state(opt, model))
    for s in (1, 2, 3):
        ckpt.save(base._replace(step=s))
    _damage(ckpt, 3, how)
    with pytest.warns(UserWarning, match="step_000000003 is incomplete or damaged"):
        assert ckpt.restore(base).step == 2
    with pytest.raises(hg.FormatError, match="not a usable checkpoint"):
        ckpt.restore(base, step=3)
    ckpt.save(base._replace(step=3))  # rewriting the step replaces the damaged folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ckpt.restore(base).step == 3


def test_unfinished_and_unreadable_checkpoints_are_skipped(tmp_path):
    model, opt, _ = _setup()
    ckpt = train.Checkpointer(tmp_path, every=1)
    base = train.TrainState(model, train.init_opt_state(opt, model))
    ckpt.save(base._replace(step=1))
    os.makedirs(tmp_path / ".tmp-step_000000002" / "state")  # killed while writing
    os.makedirs(tmp_path / "step_000000003")  # a folder without a manifest
    (tmp_path / "step_000000004").mkdir()
    (tmp_path / "step_000000004" / "checkpoint.json").write_text("{not json")
    with pytest.warns(UserWarning) as record:
        assert ckpt.restore(base).step == 1
    text = " ".join(str(w.message) for w in record)
    assert "never finished" in text and "step_000000003" in text and "not readable JSON" in text
    assert ckpt.steps() == [1]


@pytest.mark.bad_arguments
def test_checkpointer_errors(tmp_path):
    with pytest.raises(hg.ArgumentError, match="every must be an int >= 1, got 0"):
        train.Checkpointer(tmp_path, every=0)
    with pytest.raises(hg.ArgumentError, match=r"keep must be an int >= 1, got '3' \(str\)"):
        train.Checkpointer(tmp_path, every=1, keep="3")
    (tmp_path / "file").write_text("x")
    with pytest.raises(hg.ArgumentError, match="not a folder"):
        train.Checkpointer(tmp_path / "file", every=1)
    with pytest.raises(hg.ArgumentError, match="must be a path"):
        train.Checkpointer(3, every=1)
    ckpt = train.Checkpointer(tmp_path / "c", every=1)
    with pytest.raises(hg.ArgumentError, match="TrainState"):
        ckpt.save({"model": 1})
    model, opt, _ = _setup()
    state = train.TrainState(model, train.init_opt_state(opt, model), step=1)
    with pytest.raises(hg.ArgumentError, match="state.step"):
        ckpt.save(state._replace(step=-1))
    with pytest.raises(hg.ArgumentError, match="JSON values only"):
        ckpt.save(state._replace(info={"w": np.ones(2)}))
    assert not os.listdir(tmp_path / "c")
    ckpt.save(state)
    other = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=16).compile(key=jax.random.key(0))
    with pytest.raises(hg.ArgumentError, match="another model or optimizer"):
        ckpt.restore(train.TrainState(other, train.init_opt_state(opt, other)))
    with pytest.raises(hg.ArgumentError, match="no checkpoint of step 5"):
        ckpt.restore(state, step=5)
    manifest = tmp_path / "c" / "step_000000001" / "checkpoint.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(hg.FormatError, match="format_version 99"):
        ckpt.restore(state, step=1)
    with pytest.raises(hg.ArgumentError, match="key .* or order"):
        next(train.batches(np.ones(4), batch_size=2, key=jax.random.key(0), order=np.arange(4)))
    with pytest.raises(hg.ArgumentError, match="start must be"):
        next(train.batches(np.ones(4), batch_size=2, start=-1))


def test_missing_orbax_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install hamux_graph\[checkpoint\]"):
        train.Checkpointer(tmp_path, every=1)


def test_sharded_model_checkpoints_into_its_layout(tmp_path):
    mesh = hg.parallel.make_mesh(data=1, model=1)
    ham = hg.zoo.modern_hopfield(input_shape=(8,), num_memories=16)
    model = ham.compile(key=jax.random.key(0), mesh=mesh)
    opt = optax.sgd(0.1, momentum=0.9)
    state = train.TrainState(model, train.init_opt_state(opt, model), step=2)
    ckpt = train.Checkpointer(tmp_path, every=2)
    ckpt.save(state)
    got = ckpt.restore(train.TrainState(model, train.init_opt_state(opt, model)))
    w = got.model.synapse("store").W
    assert w.sharding == model.synapse("store").W.sharding and np.array_equal(w, model.synapse("store").W)


# ---- the example, killed and resumed ---------------------------------------------------------


def _example(args, tmp_path):
    cmd = [
        sys.executable,
        "-u",
        os.path.join(ROOT, "examples", "train_digits.py"),
        "--epochs",
        "2",
        "--no-progress",
        "--no-figures",
        "--out",
        str(tmp_path / "out"),
    ] + args
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    return cmd, env


def _weights(path):
    return hg.load(path)


@pytest.mark.slow
def test_killed_example_resumes_to_identical_parameters(tmp_path):
    pytest.importorskip("sklearn")
    ckdir = str(tmp_path / "ckpt")
    cmd, env = _example(["--save", str(tmp_path / "ref.hamux")], tmp_path)
    ref = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    cmd, env = _example(["--checkpoint-dir", ckdir, "--save", str(tmp_path / "run.hamux")], tmp_path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    killed_at = None
    for line in proc.stdout:
        if line.startswith("checkpoint step=") and int(line.split("=")[1]) > 0:
            killed_at = int(line.split("=")[1])
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL
    assert not os.path.exists(tmp_path / "run.hamux")

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = [int(l.split("=")[1]) for l in again.stdout.splitlines() if l.startswith("resumed from step=")]
    assert resumed and resumed[0] >= killed_at > 0
    ref_w = _weights(tmp_path / "ref.hamux")
    assert _same(ref_w, _weights(tmp_path / "run.hamux"))  # bit for bit

    # the newest checkpoint (the final step) truncated: the run falls back to the one before
    steps = sorted(int(n[5:]) for n in os.listdir(ckdir) if n.startswith("step_"))
    _damage(train.Checkpointer(ckdir, every=1), steps[-1], "truncate")
    os.remove(tmp_path / "run.hamux")
    third = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"step_{steps[-1]:09d} is incomplete or damaged" in third.stderr
    assert f"resumed from step={steps[-2]}" in third.stdout
    assert _same(ref_w, _weights(tmp_path / "run.hamux"))
