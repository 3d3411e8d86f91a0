"""The calculus check: the closed forms against automatic differentiation.

For random instances (several N, D and beta, up to beta = 1e6) in float64:
GradientTape gradients and Hessians (``tape.batch_jacobian``, a batched
``tape.jacobian``) against the closed forms, the smallest Hessian eigenvalues of
E1 and -E2 (both positive semi-definite), the log-sum-exp bounds, CCCP energy
monotonicity and fixed points, finiteness at beta = 1e6, and one Hopfield
update at beta = 1/sqrt(D) against `keras.layers.MultiHeadAttention` (one head,
identity projections, no bias). The CCCP descent is measured for the sparse
maps too (sparsemax, 1.5-entmax), each on its own energy (its entropy's convex
conjugate in place of ``lse``, `keras_hw2.hopfield.association`), over the
same instances.
"""
import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_hw2.hopfield import maths as hf
from keras_hw2.hopfield.layers import Hopfield
from keras_hw2.runs import write_json

SHAPES = ((2, 2), (5, 3), (16, 8), (64, 32))  # (N, D) of the random instances
BETAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1e6)     # cycled over the instances of each shape

# Each check passes when its figure is on this side of the limit.
UPPER_LIMITS = {
    "gradient_error_convex": 1e-8, "gradient_error_concave": 1e-8,
    "hessian_error_convex": 1e-8, "hessian_error_concave": 1e-8,
    "lse_bound_violation": 1e-12, "cccp_max_energy_increase": 1e-10,
    "cccp_max_fixed_point_residual": 1e-8, "attention_error_cccp": 1e-6, "attention_error_layer": 1e-6,
    "sparsemax_max_energy_increase": 1e-10, "entmax15_max_energy_increase": 1e-10,
}
SPARSE_MAPS = ("sparsemax", "entmax15")  # measured on their own energies beside softmax's CCCP
CHECK_FILE = "check.json"
LOWER_LIMITS = {"min_eigenvalue_convex": -1e-10, "min_eigenvalue_concave": -1e-10}


@dataclass
class Instance:
    """A batch of random problems: states ``(B, D)``, stored ``(B, N, D)``, beta ``(B,)``."""

    state: tf.Tensor
    stored: tf.Tensor
    beta: tf.Tensor


def make_instances(seed: int, num_instances: int = 120) -> list:
    """Random float64 instances, split evenly over `SHAPES` (rounded up), beta cycling through `BETAS`."""
    rng = np.random.default_rng(seed)
    per_shape = math.ceil(num_instances / len(SHAPES))
    instances = []
    betas = np.resize(BETAS, (len(SHAPES), per_shape))  # every beta appears even with few instances
    for (num_patterns, dim), beta in zip(SHAPES, betas):
        stored = rng.normal(size=(per_shape, num_patterns, dim)) / math.sqrt(dim) * rng.uniform(0.5, 3.0)
        state = rng.normal(size=(per_shape, dim))
        instances.append(Instance(tf.constant(state), tf.constant(stored), tf.constant(beta)))
    return instances


def calculus_errors(instance: Instance) -> dict:
    """Closed forms versus GradientTape for one batch of instances."""
    state, stored, beta = instance.state, instance.stored, instance.beta
    with tf.GradientTape() as outer:
        outer.watch(state)
        with tf.GradientTape(persistent=True) as inner:
            inner.watch(state)
            convex = hf.energy_convex(state, stored, beta)
            neg_concave = -hf.energy_concave(state, stored, beta)
        grad_convex = inner.gradient(convex, state)
        grad_neg_concave = inner.gradient(neg_concave, state)
        both = tf.concat([grad_convex, grad_neg_concave], axis=-1)
    # One Jacobian of both gradients side by side: (B, 2D, D), then split.
    hessians = outer.batch_jacobian(both, state)
    hessian_convex, hessian_neg_concave = tf.split(hessians, 2, axis=1)
    closed_hessian_convex = hf.hessian_energy_convex(state)
    closed_hessian_concave = hf.hessian_neg_energy_concave(state, stored, beta)
    similarities = hf.similarities(state, stored)
    lse = hf.lse(beta, similarities)
    vecmax = tf.reduce_max(similarities, axis=-1)
    log_n = math.log(stored.shape[-2])
    return {
        "gradient_error_convex": _max_abs(grad_convex - hf.grad_energy_convex(state)),
        "gradient_error_concave": _max_abs(grad_neg_concave - hf.grad_neg_energy_concave(state, stored, beta)),
        "hessian_error_convex": _max_abs(hessian_convex - closed_hessian_convex),
        "hessian_error_concave": _max_abs(hessian_neg_concave - closed_hessian_concave),
        "min_eigenvalue_convex": float(tf.reduce_min(tf.linalg.eigvalsh(closed_hessian_convex))),
        "min_eigenvalue_concave": float(tf.reduce_min(tf.linalg.eigvalsh(closed_hessian_concave))),
        "lse_bound_violation": max(0.0, float(tf.reduce_max(tf.maximum(vecmax - lse, lse - vecmax - log_n / beta)))),
    }


def cccp_errors(instance: Instance, max_steps: int = 10_000, tol: float = 1e-10) -> dict:
    """Run CCCP retrieval; the largest energy increase and fixed-point residual."""
    result = hf.retrieve(instance.state, instance.stored, instance.beta, max_steps=max_steps, tol=tol)
    residual = hf.cccp_step(result.state, instance.stored, instance.beta) - result.state
    return {
        "cccp_max_energy_increase": float(tf.reduce_max(result.energies[1:] - result.energies[:-1])),
        "cccp_max_fixed_point_residual": float(tf.reduce_max(tf.norm(residual, axis=-1))),
        "cccp_max_steps": int(result.num_steps),
    }


def sparse_descent(instance: Instance, max_steps: int = 10_000, tol: float = 1e-10) -> dict:
    """CCCP retrieval with each sparse map; the largest increase of that map's energy over one update."""
    figures = {}
    for association in SPARSE_MAPS:
        result = hf.retrieve(instance.state, instance.stored, instance.beta, max_steps=max_steps, tol=tol,
                             association=association)
        figures[f"{association}_max_energy_increase"] = float(
            tf.reduce_max(result.energies[1:] - result.energies[:-1]))
    return figures


def large_beta_is_finite(seed: int, beta: float = 1e6) -> bool:
    """Whether every quantity stays finite at a large beta (float32, the weakest dtype)."""
    rng = np.random.default_rng(seed)
    stored = tf.constant(rng.normal(size=(50, 16)) * 10, tf.float32)
    state = tf.constant(rng.normal(size=(8, 16)) * 10, tf.float32)
    values = [hf.energy(state, stored, beta), hf.grad_neg_energy_concave(state, stored, beta),
              hf.hessian_neg_energy_concave(state, stored, beta), hf.retrieve(state, stored, beta).energies]
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in values)


def attention_errors(seed: int, batch_size: int = 4, num_queries: int = 3, num_patterns: int = 10,
                     dim: int = 16) -> dict:
    """One update at beta = 1/sqrt(D) against Keras single-head cross-attention (float64).

    Returns the max abs difference of `cccp_step` (one query per sequence) and
    of the `Hopfield` layer (projections off, one update) from
    `keras.layers.MultiHeadAttention` with identity kernels and no bias.
    """
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch_size, num_queries, dim))
    stored = rng.normal(size=(batch_size, num_patterns, dim))
    attention = identity_attention(dim)
    expected = attention(query, stored).numpy()
    states = [hf.cccp_step(query[:, i], stored, 1 / math.sqrt(dim)).numpy() for i in range(num_queries)]
    layer = Hopfield(use_query_projection=False, use_key_projection=False, use_value_projection=False,
                     dtype="float64")
    return {"attention_error_cccp": float(np.abs(np.stack(states, axis=1) - expected).max()),
            "attention_error_layer": float(np.abs(layer([query, stored]).numpy() - expected).max())}


def identity_attention(dim: int) -> keras.layers.MultiHeadAttention:
    """Single-head float64 `MultiHeadAttention` whose four projections are the identity, no bias."""
    attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=dim, use_bias=False, dtype="float64")
    attention.build((None, 1, dim), (None, 1, dim))
    eye = np.eye(dim)
    for dense in (attention.query_dense, attention.key_dense, attention.value_dense):
        dense.kernel.assign(eye[:, None, :])
    attention.output_dense.kernel.assign(eye[None, :, :])
    return attention


def run_checks(seed: int = 0, num_instances: int = 120) -> dict:
    """Every check over ``num_instances`` random instances; figures plus ``passed`` per check."""
    figures = {}
    for instance in make_instances(seed, num_instances):
        measured = {**calculus_errors(instance), **cccp_errors(instance), **sparse_descent(instance)}
        for key, value in measured.items():
            merge = min if key in LOWER_LIMITS else max
            figures[key] = merge(figures[key], value) if key in figures else value
    figures.update(attention_errors(seed))
    figures["num_instances"] = sum(int(i.state.shape[0]) for i in make_instances(seed, num_instances))
    figures["large_beta_finite"] = large_beta_is_finite(seed)
    passed = {key: figures[key] <= limit for key, limit in UPPER_LIMITS.items()}
    passed.update({key: figures[key] >= limit for key, limit in LOWER_LIMITS.items()})
    passed["large_beta_finite"] = figures["large_beta_finite"]
    return {"figures": figures, "passed": passed, "all_passed": all(passed.values())}


def write_check(run, seed: int = 0, num_instances: int = 120) -> dict:
    """`run_checks` into `run`'s directory as ``check.json``; returns the report (the CLI's and the report's)."""
    report = run_checks(seed=seed, num_instances=num_instances)
    write_json(run.file(CHECK_FILE), report)
    return report


def format_report(report: dict) -> str:
    """The report as aligned lines: figure, limit and PASS/FAIL per check."""
    figures, passed = report["figures"], report["passed"]
    lines = [f"modern Hopfield calculus check: {figures['num_instances']} random float64 instances, "
             f"(N, D) in {list(SHAPES)}, beta in {list(BETAS)}"]
    for key, ok in passed.items():
        if key in UPPER_LIMITS:
            bound = f"<= {UPPER_LIMITS[key]:.0e}"
        elif key in LOWER_LIMITS:
            bound = f">= {LOWER_LIMITS[key]:.0e}"
        else:
            bound = "finite"
        value = figures[key]
        shown = f"{value:.3e}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<32} {shown:>11}  {bound:<9} {'PASS' if ok else 'FAIL'}")
    lines.append(f"  {'cccp_max_steps':<32} {figures['cccp_max_steps']:>11}")
    lines.append("all checks passed" if report["all_passed"] else "SOME CHECKS FAILED")
    return "\n".join(lines)


def _max_abs(tensor) -> float:
    return float(tf.reduce_max(tf.abs(tensor)))
