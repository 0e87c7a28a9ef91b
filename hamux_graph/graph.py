"""The HAM hypergraph as a bipartite networkx graph of layer and synapse nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import networkx as nx
from jaxtyping import PRNGKeyArray

from ._errors import ValidationError
from .layers import Layer
from .synapses import Synapse
from .validate import Plan, check_name, plan_graph

if TYPE_CHECKING:
    from .model import CompiledHAM

__all__ = ["HAM"]


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
            self._graph = _checked_copy(graph)
            plan_graph(self._graph)

    # ---- building --------------------------------------------------------------

    def add_layer(self, name: str, layer: Layer) -> None:
        """Add a layer node.

        Raises:
            ValidationError: for a bad or duplicate name, or a non-``Layer``.
        """
        check_name(name, "layer")
        if name in self._graph:
            raise ValidationError(
                f"layer '{name}': a {self._graph.nodes[name].get('kind', 'node')} named '{name}' already "
                "exists. Node names are unique across layers and synapses: pick another name."
            )
        if not isinstance(layer, Layer):
            raise ValidationError(
                f"layer '{name}': expected a hg.Layer (e.g. hg.TanhLayer((64,))), got {type(layer).__name__}."
            )
        self._graph.add_node(
            name,
            kind="layer",
            lagrangian=layer.lagrangian,
            shape=layer.shape,
            tau=layer.tau,
            use_bias=layer.use_bias,
        )

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
        check_name(name, "synapse")
        if name in self._graph:
            raise ValidationError(
                f"synapse '{name}': a {self._graph.nodes[name].get('kind', 'node')} named '{name}' already "
                "exists. Node names are unique across layers and synapses: pick another name."
            )
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        if not layers:
            raise ValidationError(f"synapse '{name}': `layers` is empty; connect at least one layer.")
        for l in layers:
            if l not in self._graph or self._graph.nodes[l].get("kind") != "layer":
                known = [n for n, k in self._graph.nodes(data="kind") if k == "layer"]
                raise ValidationError(
                    f"synapse '{name}': unknown layer {l!r} in layers={list(layers)}. Known layers: "
                    f"{known}. Add the layer first with HAM.add_layer."
                )
        if (synapse is None) == (shares is None):
            raise ValidationError(
                f"synapse '{name}': give exactly one of `synapse` (a new parameter set) or `shares` "
                "(the name of a synapse whose parameters to use)."
            )
        if synapse is not None and not isinstance(synapse, Synapse):
            raise ValidationError(
                f"synapse '{name}': expected a hg.Synapse (e.g. hg.DenseSynapse()), got {type(synapse).__name__}."
            )
        if shares is not None and (shares not in self._graph or self._graph.nodes[shares].get("kind") != "synapse"):
            raise ValidationError(
                f"synapse '{name}': shares={shares!r} is not a synapse of this HAM. Add that synapse first."
            )
        attrs: dict[str, Any] = {"kind": "synapse"}
        if synapse is not None:
            attrs["synapse"] = synapse
        else:
            attrs["shares"] = shares
        self._graph.add_node(name, **attrs)
        for slot, l in enumerate(layers):
            self._graph.add_edge(name, l, slot=slot)

    # ---- reading ---------------------------------------------------------------

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The underlying ``networkx.MultiDiGraph`` (live: edits change this HAM)."""
        return self._graph

    @property
    def layers(self) -> dict[str, Layer]:
        """Layer name -> ``Layer``, in insertion order."""
        return {
            n: Layer(d["lagrangian"], shape=d["shape"], tau=d.get("tau", 1.0), use_bias=d.get("use_bias", False))
            for n, d in self._graph.nodes(data=True)
            if d.get("kind") == "layer"
        }

    @property
    def synapses(self) -> dict[str, Synapse | None]:
        """Synapse name -> ``Synapse`` (``None`` for a node that shares another's parameters)."""
        return {n: d.get("synapse") for n, d in self._graph.nodes(data=True) if d.get("kind") == "synapse"}

    def connections(self, synapse: str) -> tuple[str, ...]:
        """The layers a synapse connects, in slot order."""
        if synapse not in self._graph or self._graph.nodes[synapse].get("kind") != "synapse":
            raise ValidationError(f"{synapse!r} is not a synapse of this HAM.")
        edges = sorted(self._graph.out_edges(synapse, data="slot"), key=lambda e: e[2])
        return tuple(v for _, v, _ in edges)

    def __repr__(self) -> str:
        nl = sum(1 for _, k in self._graph.nodes(data="kind") if k == "layer")
        return f"HAM({nl} layers, {self._graph.number_of_nodes() - nl} synapses)"

    # ---- conversion ------------------------------------------------------------

    def to_networkx(self) -> nx.MultiDiGraph:
        """A copy of the underlying graph."""
        return self._graph.copy()

    @classmethod
    def from_networkx(cls, graph: Any) -> "HAM":
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

    def compile(self, *, key: PRNGKeyArray) -> "CompiledHAM":
        """Validate and compile into a ``CompiledHAM`` (an equinox Module).

        Missing parameters are drawn from ``key``; each synapse's draw depends only on
        ``key`` and the synapse's name.
        """
        from .compile import compile_plan

        return compile_plan(self.plan(), key=key)

    def summary(self) -> str:
        """A text table of layers, synapses and parameter counts."""
        from .summary import summarize

        return summarize(self.plan())

    # ---- drawing ---------------------------------------------------------------

    def draw(self, ax: Any = None, layout: Any = "layered", energies: Any = None, **kwargs: Any) -> Any:
        """Draw the hypergraph with matplotlib (needs the ``draw`` extra).

        Layers are circles (labelled with name, shape, Lagrangian; sized by neuron count),
        synapses squares (labelled with their type), one edge per argument slot with its
        slot number; self-connections are parallel arcs. See ``hamux_graph.draw.draw_ham``.

        Args:
            ax: matplotlib Axes to draw into (a new figure when ``None``).
            layout: ``"layered"``, a networkx layout name, a callable or a dict of positions.
            energies: optional ``model.energy_tree(xs)`` to colour nodes by energy.
            **kwargs: passed on to ``draw_ham`` (``cmap``, ``with_labels``, ``font_size``).

        Returns:
            The matplotlib Axes.

        Example:
            >>> import matplotlib; matplotlib.use("Agg")
            >>> import hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
            >>> ax = ham.draw()
        """
        from .draw import draw_ham

        return draw_ham(self, ax=ax, layout=layout, energies=energies, **kwargs)

    def to_dot(self) -> str:
        """Graphviz DOT text of the hypergraph (render with ``dot -Tpng``)."""
        from .draw import to_dot

        return to_dot(self)


def _checked_copy(graph: Any) -> nx.MultiDiGraph:
    if not isinstance(graph, nx.Graph):
        raise ValidationError(
            f"expected a networkx graph laid out as a HAM, got {type(graph).__name__}. Build one with hg.HAM()."
        )
    if not graph.is_directed():
        raise ValidationError(
            "expected a directed networkx graph (edges synapse -> layer), got an undirected "
            f"{type(graph).__name__}. A HAM graph is a networkx.MultiDiGraph; build it with hg.HAM()."
        )
    if not graph.is_multigraph():
        raise ValidationError(
            f"expected a networkx.MultiDiGraph (one edge per argument slot), got {type(graph).__name__}, "
            "which cannot hold self-connections. Convert with nx.MultiDiGraph(G)."
        )
    return graph.copy()
