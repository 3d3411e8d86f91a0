"""Modern Hopfield networks: the energy and its calculus, CCCP retrieval, Keras layers.

Paper terms and code names: state pattern = query (``state``), stored patterns =
keys / values (``stored``), beta = inverse temperature (``scaling`` in hopfield-layers).
"""
from keras_hw2.hopfield.maths import (
    Retrieval,
    cccp_step,
    energy,
    energy_concave,
    energy_convex,
    grad_energy_convex,
    grad_neg_energy_concave,
    hessian_energy_convex,
    hessian_neg_energy_concave,
    lse,
    retrieve,
    similarities,
)
from keras_hw2.hopfield.layers import Hopfield, HopfieldPooling

__all__ = [
    "Hopfield", "HopfieldPooling",
    "Retrieval", "cccp_step", "energy", "energy_concave", "energy_convex", "grad_energy_convex",
    "grad_neg_energy_concave", "hessian_energy_convex", "hessian_neg_energy_concave", "lse",
    "retrieve", "similarities",
]
