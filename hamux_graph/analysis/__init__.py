"""Measuring associative memories: capacity curves, basins of attraction, attractor census, stability."""

from .census import Census as Census
from .emergent import (
    Centroids as Centroids,
    emergent_minima as emergent_minima,
    EmergentMinima as EmergentMinima,
    SupportCliques as SupportCliques,
)
from .measures import (
    attractor_census as attractor_census,
    basin_radius as basin_radius,
    BasinCurve as BasinCurve,
    capacity_curve as capacity_curve,
    CapacityCurve as CapacityCurve,
)
from .plots import (
    ALPHA_C as ALPHA_C,
    plot_basin as plot_basin,
    plot_capacity as plot_capacity,
    plot_census as plot_census,
)
from .stability import Stability as Stability, stability as stability
from .temperature import overlap_trace as overlap_trace


__all__ = [
    "ALPHA_C",
    "CapacityCurve",
    "BasinCurve",
    "Census",
    "capacity_curve",
    "basin_radius",
    "attractor_census",
    "plot_capacity",
    "plot_basin",
    "plot_census",
    "overlap_trace",
    "Stability",
    "stability",
    "EmergentMinima",
    "emergent_minima",
    "Centroids",
    "SupportCliques",
]
