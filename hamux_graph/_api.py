"""The user-facing classes: ``HAM`` (build a graph) and ``CompiledHAM`` (run it).

Both are assembled here, above everything they delegate to: ``HAM`` edits its graph with
``_builder``, validates with ``validate``, compiles with ``compile`` and draws with ``draw``;
``CompiledHAM`` is the energy core of ``_energy`` with the driver functions of ``_dynamics``
bound as methods (``model.relax(xs, ...)`` is ``hg.relax(model, xs, ...)``). Nothing below
this module imports it.
"""

from __future__ import annotations

import html as html_escape
from collections.abc import Iterable
from typing import Any

import equinox as eqx
import networkx as nx
from jax.sharding import Mesh
from jaxtyping import Array, PRNGKeyArray

from ._dynamics import euler, trace
from ._dynamics.langevin import langevin
from ._dynamics.ode import solve
from ._dynamics.relax import relax
from ._energy import calls
from ._energy.core import AbstractEnergyCore
from ._energy.sharding import check_mesh, init_sharded
from ._errors import ArgumentError, ValidationError
from ._graph import edit
from ._graph.compile import check_key, compile_fields, plan_of
from ._graph.edit import checked_copy, graph_of_plan
from ._graph.schema import kind_of, LAYER, layer_of, SYNAPSE, SYNAPSE_SPEC
from ._graph.validate import Plan, plan_graph
from ._internal.parse import parse_bool, parse_int
from ._present.summary import counted, summarize, summarize_model
from ._types import Shape
from .draw import draw_ham, to_dot
from .html import page_html, write_html
from .lagrangians.elementwise import Lagrangian
from .layers import Layer
from .synapses import Synapse


__all__ = ["HAM", "CompiledHAM"]


class HAM:
    """A Hierarchical Associative Memory as a hypergraph over a ``networkx.MultiDiGraph``.

    Layer nodes (``kind="layer"``) hold a Lagrangian, a shape, a time constant and a bias
    flag; synapse nodes (``kind="synapse"``) hold a ``Synapse``. Each synapse has one edge
    synapse → layer per argument slot, with int attribute ``slot``; a layer may appear in
    several slots of one synapse (a self-connection is two parallel edges).

    Args:
        graph: an existing HAM graph to wrap (validated); omit for an empty HAM.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> ham.add_layer("v", hg.TanhLayer((8,)))
        >>> ham.add_layer("h", hg.SoftmaxLayer((16,), beta=2.0))
        >>> ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> model.energy(model.init_states()).shape
        ()
    """

    def __init__(self, graph: nx.MultiDiGraph | None = None):
        if graph is None:
            self._graph = nx.MultiDiGraph()
        else:
            self._graph = checked_copy(graph)
            plan_graph(self._graph)

    # ---- building --------------------------------------------------------------

    def add_layer(self, name: str, layer: Layer) -> None:
        """Add a layer node.

        Raises:
            ValidationError: for a bad or duplicate name, or a non-``Layer``.
        """
        edit.add_layer(self._graph, name, layer)

    def add_synapse(
        self,
        name: str,
        synapse: Synapse | None = None,
        *,
        layers: Iterable[str] | str,
        shares: str | None = None,
    ) -> None:
        """Add a synapse node with one edge per layer in ``layers`` (slot order).

        Args:
            name: the synapse node's name.
            synapse: the synapse (e.g. ``hg.DenseSynapse()``); omit when ``shares`` is given.
            layers: connected layer names in argument order; repeats allowed.
            shares: name of another synapse node whose parameters this one uses.

        Raises:
            ValidationError: for an unknown layer, a bad or duplicate name, or a bad ``shares``.
        """
        edit.add_synapse(self._graph, name, synapse, layers, shares)

    def remove_synapse(self, name: str) -> None:
        """Remove a synapse (hyperedge) and its slot edges.

        Raises:
            ValidationError: if ``name`` is not a synapse, or others share its parameters.

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
            >>> ham.remove_synapse("s"); list(ham.synapses)
            []
        """
        edit.remove_synapse(self._graph, name)

    def remove_layer(self, name: str, *, with_synapses: bool = False) -> None:
        """Remove a layer; with ``with_synapses=True`` also the synapses that connect it.

        A hyperedge never silently loses a slot: without ``with_synapses`` a connected
        layer is refused.

        Raises:
            ValidationError: if ``name`` is not a layer, or it is connected and
                ``with_synapses`` is False.

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,))); ham.add_layer("h", hg.TanhLayer((2,)))
            >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "h"))
            >>> ham.remove_layer("h", with_synapses=True); sorted(ham.layers), list(ham.synapses)
            (['v'], [])
        """
        edit.remove_layer(
            self._graph, name, with_synapses=parse_bool(with_synapses, "with_synapses", error=ArgumentError)
        )

    def rename(self, old: str, new: str) -> None:
        """Rename a layer or synapse; connections and weight sharing follow the new name.

        Raises:
            ValidationError: if ``old`` is not a node, or ``new`` is invalid or taken.

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
            >>> ham.rename("v", "visible"); ham.connections("s")
            ('visible', 'visible')
        """
        self._graph = edit.rename(self._graph, old, new)

    def copy(self) -> HAM:
        """An independent copy (editing one does not change the other).

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> other = ham.copy(); other.add_layer("h", hg.TanhLayer((2,)))
            >>> sorted(ham.layers), sorted(other.layers)
            (['v'], ['h', 'v'])
        """
        out = HAM()
        out._graph = self._graph.copy()
        return out

    # ---- reading ---------------------------------------------------------------

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The underlying ``networkx.MultiDiGraph`` (live: edits change this HAM)."""
        return self._graph

    @property
    def layers(self) -> dict[str, Layer]:
        """Layer name -> ``Layer``, in insertion order."""
        return {n: layer_of(n, d) for n, d in self._graph.nodes(data=True) if kind_of(d) == LAYER}

    @property
    def synapses(self) -> dict[str, Synapse | None]:
        """Synapse name -> ``Synapse`` (``None`` for a node that shares another's parameters)."""
        return {n: d.get(SYNAPSE_SPEC) for n, d in self._graph.nodes(data=True) if kind_of(d) == SYNAPSE}

    def connections(self, synapse: str) -> tuple[str, ...]:
        """The layers a synapse connects, in slot order."""
        return edit.connections(self._graph, synapse)

    def __repr__(self) -> str:
        nl = sum(1 for _, d in self._graph.nodes(data=True) if kind_of(d) == LAYER)
        return f"HAM({counted(nl, 'layer')}, {counted(self._graph.number_of_nodes() - nl, 'synapse')})"

    def _repr_html_(self) -> str:
        """The interactive page inline in Jupyter (see ``inline_page``); the plain repr if invalid."""
        try:
            plan = self.plan()
        except ValidationError:
            return f"<pre>{html_escape.escape(repr(self))}</pre>"
        return inline_page(plan)

    # ---- conversion ------------------------------------------------------------

    def to_networkx(self) -> nx.MultiDiGraph:
        """A copy of the underlying graph."""
        return self._graph.copy()

    @classmethod
    def from_networkx(cls, graph: Any) -> HAM:
        """Wrap a copy of a networkx graph laid out as a HAM (validated).

        Raises:
            ValidationError: if ``graph`` is not a valid HAM graph.

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("x", hg.TanhLayer((3,)))
            >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("x", "x"))
            >>> hg.HAM.from_networkx(ham.to_networkx()).connections("self")
            ('x', 'x')
        """
        return cls(graph)

    @classmethod
    def from_plan(cls, plan: Plan) -> HAM:
        """The HAM of a validated plan (``ham.plan()``, a file reader's), without validating again.

        Example:
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("x", hg.TanhLayer((3,)))
            >>> hg.HAM.from_plan(ham.plan()).layers["x"].shape
            (3,)
        """
        if not isinstance(plan, Plan):
            raise ValidationError(f"HAM.from_plan takes a validated Plan (ham.plan()), got {type(plan).__name__}.")
        ham = cls()
        ham._graph = graph_of_plan(plan)
        return ham

    # ---- validation, compilation ----------------------------------------------

    def plan(self) -> Plan:
        """Validate and return the flat plan that ``compile`` uses."""
        return plan_graph(self._graph)

    def validate(self) -> None:
        """Check names, kinds, edges, slots, arities, shapes and parameters.

        Raises:
            ValidationError: naming the node or edge at fault and how to fix it.
        """
        plan_graph(self._graph)

    def compile(
        self, *, key: PRNGKeyArray, max_param_bytes: int | None = None, mesh: Mesh | None = None
    ) -> CompiledHAM:
        """Validate and compile into a ``CompiledHAM`` (an equinox Module).

        Missing parameters are drawn from ``key``; each synapse's draw depends only on
        ``key`` and the synapse's name.

        With ``mesh`` (``hg.parallel.make_mesh(data=..., model=...)``) the parameters are
        created already laid out on the mesh: the initialiser is compiled with the layout
        of ``hg.parallel.shard_model`` as its output shardings, so each device computes
        only its own slice of a split weight and no weight is ever whole on one device.
        The values are those of ``compile(key=key)`` (JAX's partitionable random bits).

        Args:
            key: one PRNG key, e.g. ``jax.random.key(0)``.
            max_param_bytes: refuse (before allocating anything) a model whose parameters
                need more bytes; default: the default device's memory (host memory on CPU),
                times the number of devices of ``mesh``.
            mesh: an optional device mesh (a ``"model"`` axis splits memory/hidden axes).

        Raises:
            ValidationError: if the graph is not a valid HAM, or its parameters would not fit.
            ArgumentError: if ``key`` is not one PRNG key, ``mesh`` is not a mesh, or
                ``max_param_bytes`` is not an int >= 0.

        Example:
            >>> import jax, hamux_graph as hg
            >>> ham = hg.zoo.modern_hopfield(input_shape=(8,), num_memories=64)
            >>> model = ham.compile(key=jax.random.key(0), mesh=hg.parallel.make_mesh(data=1, model=1))
            >>> model.synapse("store").W.shape
            (8, 64)
        """
        key = check_key(key, "HAM.compile")
        if max_param_bytes is not None:
            max_param_bytes = parse_int(max_param_bytes, "max_param_bytes", minimum=0, error=ArgumentError)
        plan = self.plan()
        if mesh is None:
            return CompiledHAM(**compile_fields(plan, key=key, max_param_bytes=max_param_bytes))
        mesh = check_mesh(mesh, "HAM.compile")
        devices = mesh.devices.size
        build = lambda k: CompiledHAM(**compile_fields(plan, key=k, max_param_bytes=max_param_bytes, devices=devices))
        return init_sharded(build, key, mesh)

    def summary(self) -> str:
        """A text table of layers, synapses and parameter counts."""
        return summarize(self.plan())

    # ---- drawing ---------------------------------------------------------------

    def draw(
        self, ax: Any = None, layout: Any = "layered", energies: Any = None, *, collapse: bool = False, **kwargs: Any
    ) -> Any:
        """Draw the hypergraph with matplotlib (needs the ``draw`` extra).

        The layered layout follows the data flow; figure and font size are chosen from the
        graph (at most 20 × 20 inches, at least 6 pt) and no two labels overlap. Layers are
        circles coloured by Lagrangian and sized by neuron count, synapses squares coloured
        by type, one edge per argument slot with its slot number; a legend names the
        colours. See ``hamux_graph.draw.draw_ham``.

        Args:
            ax: matplotlib Axes to draw into (a new figure sized to the graph when ``None``).
            layout: ``"layered"``, a networkx layout name, a callable or a dict of positions.
            energies: optional ``model.energy_tree(xs)`` to colour nodes by energy.
            collapse: draw each run of identical layers and links as one node labelled
                ``x1…x11 ×11`` (the rule: docs/drawing.md).
            **kwargs: passed on to ``draw_ham`` (``first``, ``last``, ``cmap``,
                ``with_labels``, ``font_size``, ``legend``).

        Returns:
            The matplotlib Axes.

        Example:
            >>> import matplotlib; matplotlib.use("Agg")
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> ax = ham.draw()
        """
        return draw_ham(self.plan(), ax=ax, layout=layout, energies=energies, collapse=collapse, **kwargs)

    def to_html(
        self, path: Any, *, collapse: bool = True, energies: Any = None, trace: Any = None, title: str | None = None
    ) -> None:
        """Write the hypergraph as one self-contained interactive HTML page.

        The page (inline script and style, no network, works offline and in an iframe)
        has pan and zoom, hover cards, search by name, groups that expand and collapse on
        a click, and an optional energy panel. See ``hamux_graph.html.page_html``.

        Args:
            path: the ``.html`` file to write (atomically).
            collapse: start with every group collapsed (click one to expand it).
            energies: optional ``model.energy_tree(xs)``: nodes coloured by energy.
            trace: optional ``model.energy_trace(xs, ...)``: per-component energy traces
                with a step slider.
            title: the page title (default: a count of layers and synapses).

        Example:
            >>> import os, tempfile, hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> path = os.path.join(tempfile.mkdtemp(), "m.html")
            >>> ham.to_html(path)
            >>> open(path, encoding="utf-8").read(15)
            '<!DOCTYPE html>'
        """
        write_html(self.plan(), path, collapse=collapse, energies=energies, trace=trace, title=title)

    def to_dot(self) -> str:
        """Graphviz DOT text of the hypergraph (render with ``dot -Tpng``)."""
        return to_dot(self.plan())


class CompiledHAM(AbstractEnergyCore):
    """A compiled HAM (returned by ``HAM.compile``).

    Energy ``E = Σ_ℓ [⟨g_ℓ, u_ℓ⟩ − L_ℓ(u_ℓ)] − Σ_σ F_σ(g…)`` with ``u_ℓ = x_ℓ − b_ℓ`` and
    ``g_ℓ = ∇L_ℓ(u_ℓ)``; dynamics ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ``.

    The energy methods come from the energy core; the dynamics methods are the driver
    functions bound to the model, with their signatures and docstrings: ``step`` and
    ``run`` (``_dynamics.euler``), ``energy_trace``, ``relax`` (``hg.relax``),
    ``solve`` (``hg.solve``) and ``langevin`` (``hg.langevin``); ``model.relax(xs, ...)``
    is ``hg.relax(model, xs, ...)``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> xs = model.init_states(batch_size=3, key=jax.random.key(1))
        >>> xs, energies = model.run(xs, steps=10, dt=0.1)
        >>> energies.shape
        (11, 3)
    """

    lagrangians: tuple[Lagrangian, ...]
    biases: tuple[Array | None, ...]
    synapses: tuple[Synapse, ...]
    layer_names: tuple[str, ...] = eqx.field(static=True)
    shapes: tuple[Shape, ...] = eqx.field(static=True)
    taus: tuple[float, ...] = eqx.field(static=True)
    layer_energies: tuple[bool, ...] = eqx.field(static=True)
    synapse_names: tuple[str, ...] = eqx.field(static=True)
    edge_params: tuple[int, ...] = eqx.field(static=True)
    edge_layers: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    owner_names: tuple[str, ...] = eqx.field(static=True)

    # ---- dynamics: the driver functions, bound (their docstrings are the methods' docs) ----

    step = calls.fast_method(euler.step)
    run = calls.fast_method(euler.run)
    energy_trace = calls.fast_method(trace.energy_trace)
    relax = calls.fast_method(relax)
    solve = calls.fast_method(solve)
    langevin = calls.fast_method(langevin)

    # ---- architecture ------------------------------------------------------------------

    def to_ham(self) -> HAM:
        """The architecture as a ``HAM``, in this model's node order.

        Synapses carry this model's parameters and Lagrangians their current (learned)
        scalars; biases are not part of a HAM (``hg.save`` stores them).
        """
        return HAM.from_plan(self.plan())

    def plan(self) -> Plan:
        """The plan of this model (its architecture with current parameters; not re-validated)."""
        return plan_of(self)

    def summary(self) -> str:
        """A text table of layers, synapses and the model's actual parameter counts."""
        return summarize_model(self)

    def __repr__(self) -> str:
        return f"CompiledHAM({counted(len(self.layer_names), 'layer')}, {counted(len(self.synapse_names), 'synapse')})"

    def _repr_html_(self) -> str:
        """The interactive page of this model inline in Jupyter (see ``inline_page``)."""
        return inline_page(self.plan())


def inline_page(plan: Plan, *, height: int = 420) -> str:
    """The interactive page of ``plan`` as an inline ``<iframe>`` (what Jupyter displays).

    The page goes into the frame's ``srcdoc`` attribute, HTML-escaped (no base64, no ``data:``
    URL), and the frame is sandboxed to scripts only (no same-origin access, no forms, no
    navigation), so JupyterLab, VS Code and static renderers (nbconvert, the documentation site)
    show the same page, offline.

    Args:
        plan: a validated plan (``ham.plan()``, ``model.plan()``).
        height: the frame's height in CSS pixels (it fills the width).

    Returns:
        One ``<iframe>`` element.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> frame = inline_page(ham.plan())
        >>> frame.startswith("<iframe") and 'sandbox="allow-scripts"' in frame
        True
        >>> "data-node" in frame and "&lt;script" in frame and "<script" not in frame
        True
    """
    page = page_html(plan)
    title = f"HAM: {counted(len(plan.layer_names), 'layer')}, {counted(len(plan.synapse_names), 'synapse')}"
    return (
        f'<iframe sandbox="allow-scripts" title="{html_escape.escape(title)}" '
        f'style="width: 100%; height: {int(height)}px; border: 1px solid #ddd; border-radius: 4px;" '
        f'srcdoc="{html_escape.escape(page, quote=True)}"></iframe>'
    )
