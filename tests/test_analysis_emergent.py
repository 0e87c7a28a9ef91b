"""hg.analysis.emergent_minima: minima counts and positions of the unit-side triangle, in closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph import analysis


TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
CENTROID = TRIANGLE.mean(0)


def _nearest(points, targets):
    return np.array([np.min(np.linalg.norm(targets - p[None], axis=1)) for p in points])


def test_epanechnikov_triangle_has_seven_minima_at_beta_4():
    """Support radius √(2/β) ≈ 0.707: pairs overlap (> ½), triples too (> 1/√3): 3 + 3 + 1 minima.

    Inside the supports S = Σ_A (1 − (β/2)‖x − ξ‖²) peaks at the centroid of the active set A,
    where ∇²E = |A|/(S + eps)·I (S = 1 at each of the seven points).
    """
    model = hg.zoo.epanechnikov_memory(TRIANGLE, beta=4.0, eps=1e-3).compile(key=jax.random.key(0))
    found = analysis.emergent_minima(model, TRIANGLE, layer="visible")
    assert found.num_minima == 7 and found.kind == ("minimum",) * 7 and found.unconverged == 0
    midpoints = np.array([(TRIANGLE[i] + TRIANGLE[j]) / 2 for i, j in [(0, 1), (0, 2), (1, 2)]])
    expected = {1: TRIANGLE, 2: midpoints, 3: CENTROID[None]}
    states = np.asarray(found.states, np.float64)
    sizes = np.asarray(found.sizes)
    assert sorted(sizes.tolist()) == [1, 1, 1, 2, 2, 2, 3]
    for size, targets in expected.items():
        pts = states[sizes == size]
        assert len(pts) == len(targets) and _nearest(pts, targets).max() < 1e-4
        np.testing.assert_allclose(np.asarray(found.lowest)[sizes == size], size / (1 + 1e-3), rtol=1e-3)
    assert np.asarray(found.stored).sum() == 3 and found.num_emergent == 4
    assert sorted(len(m) for m in found.members) == [1, 1, 1, 2, 2, 2, 3]


@pytest.mark.parametrize(("beta", "count"), [(5.0, 1), (5.7, 4), (7.0, 3)])
def test_log_sum_exp_triangle_minima(beta, count):
    """E = −β⁻¹ log Σ exp(−(β/2)‖x − ξ‖²): ∇²E(centroid) = (1 − β/6)·I for a unit side.

    β < 6: the centroid is a minimum; at 5.0 the vertices' minima have merged into it; at 5.7
    the three vertex minima and the centroid coexist (Carreira-Perpiñán & Williams: more modes
    than... here as many as components plus one); at 7 the centroid is a maximum.
    """
    model = hg.zoo.gaussian_memory(TRIANGLE, beta=beta).compile(key=jax.random.key(0))
    found = analysis.emergent_minima(model, TRIANGLE, layer="visible")
    assert found.num_minima == count
    minima = np.asarray(found.states, np.float64)[[k == "minimum" for k in found.kind]]
    at_centroid = _nearest(CENTROID[None], minima)[0] < 1e-3
    assert at_centroid == (beta < 6)
    if count >= 3:  # one minimum near each vertex, nearer to it than to the others
        assert sorted(
            int(np.argmin(np.linalg.norm(TRIANGLE - p[None], axis=1)))
            for p in minima
            if np.linalg.norm(p - CENTROID) > 1e-3
        ) == [0, 1, 2]
    # the closed-form Hessian at the exact centroid
    st = analysis.stability(model, {"visible": jnp.asarray(CENTROID, dtype=jnp.float32)})
    np.testing.assert_allclose(np.asarray(st.eigenvalues), [1 - beta / 6] * 2, atol=1e-4)
    assert st.kind == ("minimum" if beta < 6 else "saddle")


def test_candidate_strategies_and_errors():
    model = hg.zoo.gaussian_memory(TRIANGLE, beta=7.0).compile(key=jax.random.key(0))
    vertices = analysis.emergent_minima(model, TRIANGLE, layer="visible", candidates=analysis.Centroids(max_size=1))
    assert vertices.num_minima == 3 and vertices.num_emergent == 0
    explicit = analysis.emergent_minima(model, TRIANGLE, layer="visible", candidates=TRIANGLE[:1] + 0.05)
    assert explicit.num_minima == 1 and explicit.members == ((0,),)
    with pytest.raises(hg.ArgumentError, match="candidates must be one of"):
        analysis.emergent_minima(model, TRIANGLE, layer="visible", candidates="all")
    with pytest.raises(hg.ValidationError, match="unknown layer"):
        analysis.emergent_minima(model, TRIANGLE, layer="hidden")
    with pytest.raises(hg.ValidationError, match=r"patterns must have shape \(K, \*\(2,\)\)"):
        analysis.emergent_minima(model, TRIANGLE[:, :1], layer="visible")
    with pytest.raises(hg.ArgumentError, match="SupportCliques needs a compact kernel"):
        analysis.emergent_minima(model, TRIANGLE, layer="visible", candidates=analysis.SupportCliques())
    hopfield = hg.zoo.classical_hopfield(np.sign(TRIANGLE[:, :1] - 0.2)).compile(key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="exactly one distance memory"):
        analysis.emergent_minima(hopfield, np.ones((2, 1)), layer="visible")
