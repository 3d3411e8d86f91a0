"""Modern Hopfield networks: the energy and its calculus, CCCP retrieval, sparse association, Keras layers.

Paper terms and code names: state pattern = query (``state``), stored patterns =
keys / values (``stored``), beta = inverse temperature (``scaling`` in hopfield-layers).
The names below are imported on first use, so importing this package does not import TensorFlow.
"""
from keras_hw2.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "association": ("ASSOCIATIONS", "entmax15", "sparsemax"),
    "layers": ("Hopfield", "HopfieldLayer", "HopfieldPooling"),
    "maths": ("Retrieval", "cccp_step", "energy", "energy_concave", "energy_convex", "grad_energy_convex",
              "grad_neg_energy_concave", "hessian_energy_convex", "hessian_neg_energy_concave", "lse",
              "retrieve", "similarities"),
})
