"""Tests for hamux_graph.train: forward pass, losses, filter specs, train step, evaluation."""

from __future__ import annotations

import io
import sys
import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hamux_graph as hg
from hamux_graph import train


def _tiny(getkey, hidden="relu", nhid=12, d=6, c=3, stdinit=0.3):
    ham = hg.zoo.hn((d,), c, nhid=nhid, hidden=hidden, stdinit=stdinit, beta=2.0, label_beta=1.5)
    return ham.compile(key=getkey())


def _reference_forward(W_in, W_lab, b_lab, beta_lab, x, steps, dt, hidden):
    """Euler steps of the hn energy written out by hand (numpy, one sample at a time).

    E_syn = -L_hid(g_in W_in + g_lab W_lab); the label layer (softmax, beta, bias b) has
    dE/dg_lab = (x_lab - b) - W_lab @ L_hid'(h); the input layer is clamped.
    """
    W_in, W_lab, b_lab = (np.asarray(a, np.float64) for a in (W_in, W_lab, b_lab))
    out = []
    for xi in np.asarray(x, np.float64):
        xl = np.zeros(W_lab.shape[0])
        for _ in range(steps):
            u = xl - b_lab
            g = np.exp(beta_lab * u - np.max(beta_lab * u))
            g /= g.sum()
            h = xi.reshape(-1) @ W_in + g @ W_lab
            if hidden == "relu":
                dh = np.maximum(h, 0.0)
            else:  # softmax with beta 2
                e = np.exp(2.0 * h - np.max(2.0 * h))
                dh = e / e.sum()
            xl = xl - dt * (u - W_lab @ dh)
        out.append(xl)
    return np.array(out)


@pytest.mark.parametrize("hidden", ["relu", "softmax"])
def test_forward_matches_hand_written_dynamics(getkey, hidden):
    model = _tiny(getkey, hidden=hidden)
    syn = model.synapse("hidden")
    b = 0.1 * jax.random.normal(getkey(), (3,))
    model = eqx.tree_at(lambda m: m.biases[1], model, b)
    x = jax.random.uniform(getkey(), (4, 6))
    state = train.forward(model, x, steps=7, dt=0.3, read="state")
    ref = _reference_forward(syn.Ws[0], syn.Ws[1], b, 1.5, x, 7, 0.3, hidden)
    np.testing.assert_allclose(np.asarray(state), ref, rtol=1e-4, atol=1e-5)
    logits = train.forward(model, x, steps=7, dt=0.3, read="logits")
    np.testing.assert_allclose(np.asarray(logits), 1.5 * (ref - np.asarray(b)), rtol=1e-4, atol=1e-5)
    probs = train.forward(model, x, steps=7, dt=0.3)
    e = np.exp(1.5 * (ref - np.asarray(b)))
    np.testing.assert_allclose(np.asarray(probs), e / e.sum(-1, keepdims=True), rtol=1e-4, atol=1e-5)
    # one sample without a batch axis gives the same answer
    np.testing.assert_allclose(
        np.asarray(train.forward(model, x[0], steps=7, dt=0.3, read="state")), ref[0], rtol=1e-4, atol=1e-5
    )


def test_gradient_flows_through_the_whole_run(getkey):
    """BPTT: the gradient w.r.t. the weights equals jax.grad of a hand-written unrolled loop."""
    model = _tiny(getkey)
    x = jax.random.uniform(getkey(), (5, 6))
    y = jnp.array([0, 1, 2, 0, 1])

    def loss(m):
        return train.cross_entropy(train.forward(m, x, steps=6, dt=0.4, read="logits"), y)

    def plain(W_in, W_lab):
        xl = jnp.zeros((5, 3))
        for _ in range(6):
            g = jax.nn.softmax(1.5 * xl, axis=-1)
            h = jax.nn.relu(x @ W_in + g @ W_lab)
            xl = xl - 0.4 * (xl - h @ W_lab.T)
        logp = jax.nn.log_softmax(1.5 * xl, axis=-1)
        return -jnp.mean(logp[jnp.arange(5), y])

    grads = eqx.filter_grad(loss)(model)
    W_in, W_lab = model.synapse("hidden").Ws
    g_in, g_lab = jax.grad(plain, argnums=(0, 1))(W_in, W_lab)
    np.testing.assert_allclose(grads.synapses[0].Ws[0], g_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads.synapses[0].Ws[1], g_lab, rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(g_lab).max()) > 0


def test_cross_entropy_and_mse_formulas():
    logits = jnp.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = jnp.array([1, 2])
    z = np.asarray(logits, np.float64)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    eps = 0.2
    target = np.eye(3)[[1, 2]] * (1 - eps) + eps / 3
    np.testing.assert_allclose(float(train.cross_entropy(logits, labels)), -np.mean(logp[[0, 1], [1, 2]]), rtol=1e-6)
    np.testing.assert_allclose(
        float(train.cross_entropy(logits, labels, label_smoothing=eps)), -np.mean((target * logp).sum(-1)), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(train.cross_entropy(logits, jnp.asarray(np.eye(3, dtype=np.float32)[[1, 2]]))),
        -np.mean(logp[[0, 1], [1, 2]]),
        rtol=1e-6,
    )
    assert float(train.mse(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))) == pytest.approx(2.5)
    with pytest.raises(hg.ArgumentError, match="label_smoothing"):
        train.cross_entropy(logits, labels, label_smoothing=1.5)
    with pytest.raises(hg.ArgumentError, match="shape"):
        train.mse(jnp.ones(2), jnp.ones(3))


def test_forward_errors(getkey):
    model = _tiny(getkey)
    with pytest.raises(hg.StateError, match="'nope'.*layers are"):
        train.forward(model, jnp.ones((2, 6)), input="nope")
    with pytest.raises(hg.StateError, match=r"shape \(2, 5\).*\(6,\)"):
        train.forward(model, jnp.ones((2, 5)))
    with pytest.raises(hg.StateError, match="read must be one of"):
        train.forward(model, jnp.ones((2, 6)), read="probs")
    with pytest.raises(hg.StateError, match="softmax output layer"):
        train.forward(model, jnp.ones((2, 6)), output="input", read="logits")
    with pytest.raises(hg.ArgumentError, match="steps"):
        train.forward(model, jnp.ones((2, 6)), steps=-1)
    with pytest.raises(hg.ArgumentError, match="dt must be a scalar"):
        train.forward(model, jnp.ones((2, 6)), dt=jnp.ones(2))
    assert isinstance(hg.StateError("x"), ValueError)


def _digits(n):
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n]


def test_short_training_lowers_loss_and_beats_chance(getkey):
    X, y = _digits(600)
    Xtr, ytr, Xte, yte = X[:400], y[:400], X[400:], y[400:]
    model = hg.zoo.hn((64,), 10, nhid=64).compile(key=getkey())
    opt = optax.adam(1e-2)

    def loss_fn(m, x, t):
        return train.cross_entropy(train.forward(m, x, steps=4, dt=0.5, read="logits"), t)

    step = train.make_train_step(opt, loss_fn)
    state = train.init_opt_state(opt, model)
    first = float(loss_fn(model, Xtr, ytr))
    for epoch in range(6):
        for xb, yb in train.batches(Xtr, ytr, batch_size=50, key=jax.random.key(epoch)):
            model, state, _ = step(model, state, xb, yb)
    last = float(loss_fn(model, Xtr, ytr))
    acc = train.accuracy(model, Xte, yte, steps=4, dt=0.5)
    assert last < 0.5 * first
    assert acc > 0.6  # chance is 0.1


def _betas(model):
    return float(model.lagrangians[1].beta), float(model.synapse("hidden").hidden_lagrangian.beta)


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_lagrangian_scalars_stay_fixed(getkey, freeze):
    model = _tiny(getkey, hidden="softmax")
    x = jax.random.uniform(getkey(), (8, 6))
    y = jnp.arange(8) % 3
    spec = train.trainable(model, freeze_lagrangians=freeze)
    opt = optax.sgd(0.5)

    def loss_fn(m, x, t):
        return train.cross_entropy(train.forward(m, x, steps=4, dt=0.5, read="logits"), t)

    step = train.make_train_step(opt, loss_fn, filter_spec=spec)
    state = train.init_opt_state(opt, model, spec)
    new = model
    for _ in range(3):
        new, state, _ = step(new, state, x, y)
    before, after = _betas(model), _betas(new)
    if freeze:
        assert after == before
    else:
        assert after[0] != before[0] and after[1] != before[1]
    assert not np.allclose(new.synapse("hidden").Ws[0], model.synapse("hidden").Ws[0])


def test_trainable_spec_and_frozen_biases(getkey):
    model = _tiny(getkey)
    spec = train.trainable(model, freeze_biases=True)
    assert spec.biases[0] is None and spec.biases[1] is False
    assert spec.synapses[0].Ws == (True, True)
    assert bool(spec.lagrangians[1].beta) is True
    spec2 = train.trainable(model, freeze_lagrangians=True)
    assert bool(spec2.lagrangians[1].beta) is False and bool(spec2.biases[1]) is True


def test_train_step_with_aux_and_equals_manual_update(getkey):
    model = _tiny(getkey)
    x = jax.random.uniform(getkey(), (4, 6))
    y = jnp.array([0, 1, 2, 1])

    def loss_fn(m, x, t):
        out = train.forward(m, x, steps=3, dt=0.5, read="logits")
        return train.cross_entropy(out, t), out

    opt = optax.sgd(0.1)
    step = train.make_train_step(opt, loss_fn, has_aux=True)
    new, _, loss, out = step(model, train.init_opt_state(opt, model), x, y)
    assert out.shape == (4, 3)
    grads = eqx.filter_grad(lambda m: loss_fn(m, x, y)[0])(model)
    want = model.synapse("hidden").Ws[0] - 0.1 * grads.synapses[0].Ws[0]
    np.testing.assert_allclose(new.synapse("hidden").Ws[0], want, rtol=1e-5, atol=1e-7)
    assert float(loss) == pytest.approx(float(loss_fn(model, x, y)[0]), rel=1e-5)


def test_predict_accuracy_and_batches(getkey):
    model = _tiny(getkey)
    x = jax.random.uniform(getkey(), (10, 6))
    probs = train.forward(model, x, steps=3)
    pred = train.predict(model, x, steps=3, batch_size=5)
    np.testing.assert_array_equal(pred, np.argmax(probs, -1))
    assert train.accuracy(model, x, pred, steps=3) == 1.0
    got = list(train.batches(np.arange(10), np.arange(10) * 2, batch_size=4, key=jax.random.key(0)))
    assert len(got) == 2 and all(b[0].shape == (4,) for b in got)
    np.testing.assert_array_equal(got[0][1], 2 * got[0][0])
    assert len(list(train.batches(np.arange(10), batch_size=4, drop_last=False))) == 3
    with pytest.raises(hg.ArgumentError, match="different lengths"):
        list(train.batches(np.arange(3), np.arange(4), batch_size=2))


def test_progress_with_and_without_tqdm(monkeypatch):
    buf = io.StringIO()
    bar = train.progress(range(20), desc="epochs", file=buf)
    for _ in bar:
        bar.set_postfix(loss=0.25)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    buf = io.StringIO()
    bar = train.progress(range(20), desc="epochs", file=buf)
    for _ in bar:
        bar.set_postfix(loss=0.5, acc=0.75)
    lines = buf.getvalue().strip().splitlines()
    assert 1 <= len(lines) <= 12
    assert lines[-1].startswith("epochs: 20/20") and "loss=0.5" in lines[-1] and "acc=0.75" in lines[-1]


def test_training_helpers_name_mismatches(getkey):
    import optax

    model = hg.zoo.create("hn", input_shape=(4,), num_classes=3, nhid=5).compile(key=getkey())
    loss_fn = lambda m, x, y: train.cross_entropy(train.forward(m, x, steps=2, read="logits"), y)
    opt = optax.adam(1e-2)
    spec = train.trainable(model, freeze_lagrangians=True)
    step = train.make_train_step(opt, loss_fn)  # built without the spec ...
    with pytest.raises(hg.ArgumentError, match="opt_state does not match the trainable parameters"):
        step(model, train.init_opt_state(opt, model, spec), jnp.ones((2, 4)), jnp.array([0, 1]))  # ... state with it
    with pytest.raises(hg.ArgumentError, match=r"class indices in \[0, 2\] for 3 classes, got labels in \[0, 12\]"):
        train.cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 12]))
    with pytest.raises(hg.ArgumentError, match=r"labels in \[-1, 1\]"):
        train.cross_entropy(jnp.zeros((2, 3)), jnp.array([-1, 1]))


def test_mse_shape_annotations_evaluate():
    hints = typing.get_type_hints(train.mse)
    assert (hints["prediction"].dim_str, hints["return"].dim_str) == ("...", "")
