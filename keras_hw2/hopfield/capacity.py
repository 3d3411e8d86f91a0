"""Storage capacity, measured: retrieval of random +-1 patterns against the number N stored.

Steps, for every pattern dim D, number of patterns N, inverse temperature beta
and association map (softmax, sparsemax, 1.5-entmax):
1. Store N random +-1 patterns of dim D (unscaled, so ``x_i . q`` is in
   [-D, D]); draw ``num_queries`` targets among them, and flip the signs of
   exactly ``round(flip * D)`` coordinates of each to make its query.
2. Retrieve by CCCP (`keras_hw2.hopfield.maths.cccp_step` until no state
   moves more than 1e-6, at most ``max_steps`` updates); a query is retrieved when the sign of the state
   equals its target in every coordinate, after one update ("one-step") and
   at the end ("converged"). Also the one-step retrieval error
   ``||T(q) - x|| / sqrt(D)``, the quantity Hu et al. (2023) bound.
3. For each (D, beta, map, one-step / converged) the capacity: the largest N
   of the grid before the first N retrieved below ``threshold`` (99%).

Once a (D, beta, map) retrieves no query at some N, in either mode, its larger
N are skipped (more patterns only crowd the queries further): their rows are
absent from the results.

`run_capacity` measures, `plot_capacity` draws ``accuracy.png`` (accuracy
against N, one panel per map and D) and ``capacity.png`` (capacity against
D), `write_capacity_run` does both into a run directory with
``capacity.json`` (what ``python -m keras_hw2.hopfield capacity`` calls).
"""
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.checks import Choice, Each, Integer, Number, received, validate
from keras_hw2.errors import InputError
from keras_hw2.hopfield.association import ASSOCIATIONS
from keras_hw2.hopfield.maths import cccp_step
from keras_hw2.plots import plt, save_figure
from keras_hw2.progress import Progress
from keras_hw2.runs import Run, write_json

CAPACITY_FILE = "capacity.json"
MODES = ("one_step", "converged")


@dataclass
class CapacityConfig:
    """Configuration of the capacity measurement (written to the run's config.json)."""

    dims: tuple = (32, 48, 64, 80)  # pattern dims D
    patterns: tuple = tuple(2 ** k for k in range(1, 16))  # numbers N of stored patterns: 2 ... 32,768
    betas: tuple = (0.01, 0.1, 1.0)  # inverse temperatures (scores x_i . q lie in [-D, D])
    associations: tuple = ASSOCIATIONS  # the maps compared
    flip: float = 0.25  # fraction of each query's signs flipped, in [0, 0.5)
    num_queries: int = 200  # queries per (D, N); 99% leaves at most two misses
    max_steps: int = 10  # the most CCCP updates of the converged retrieval
    threshold: float = 0.99  # the accuracy a capacity must reach
    seed: int = 0  # seed of the patterns, targets and flips

    def __post_init__(self):
        self.dims, self.patterns, self.betas, self.associations = map(
            tuple, (self.dims, self.patterns, self.betas, self.associations))
        validate(self, {
            "dims": Each(Integer(minimum=1)), "patterns": Each(Integer(minimum=1)),
            "betas": Each(Number(low=0, low_open=True)), "associations": Each(Choice(ASSOCIATIONS)),
            "flip": Number(0, 0.5, high_open=True), "num_queries": Integer(minimum=1),
            "max_steps": Integer(minimum=1), "threshold": Number(0, 1, low_open=True), "seed": Integer(minimum=0),
        }, flags={"associations": "--association"})
        for name, flag in (("dims", "--dims"), ("patterns", "--patterns"), ("betas", "--betas"),
                           ("associations", "--association")):
            values = getattr(self, name)
            repeated = sorted({v for v in values if values.count(v) > 1}, key=values.index)
            if repeated:
                raise InputError(f"{flag} lists {repeated[0]!r} more than once. "
                                 f"{received(flag, ','.join(map(str, values)))}")
        self.dims, self.patterns, self.betas = (tuple(sorted(v)) for v in (self.dims, self.patterns, self.betas))


def make_cell(dim: int, num_patterns: int, config: CapacityConfig) -> tuple:
    """The stored patterns ``(N, D)``, the queries ``(num_queries, D)`` and their targets' indices, float32."""
    rng = np.random.default_rng([config.seed, dim, num_patterns])
    stored = rng.choice([-1.0, 1.0], size=(num_patterns, dim)).astype("float32")
    targets = rng.integers(num_patterns, size=config.num_queries)
    flipped = np.argsort(rng.random((config.num_queries, dim)), axis=1)[:, :round(config.flip * dim)]
    signs = np.ones((config.num_queries, dim), "float32")
    np.put_along_axis(signs, flipped, -1.0, axis=1)
    return stored, stored[targets] * signs, targets


def iterate(queries, stored, beta: float, association: str, max_steps: int, tol: float = 1e-6) -> tuple:
    """CCCP updates until no state moves more than `tol`, or `max_steps` of them (`maths.retrieve`'s rule).

    `maths.retrieve` without its trajectory and energies, which would double
    the cost of the sparse maps here.

    Returns:
        ``(state after one update, final state, number of updates)``, NumPy arrays ``(num_queries, D)``.
    """
    state = first = _step(queries, stored, tf.constant(beta, queries.dtype), association)
    steps, moved = 1, tf.reduce_max(tf.norm(first - queries, axis=-1))
    while steps < max_steps and float(moved) > tol:
        new = _step(state, stored, tf.constant(beta, queries.dtype), association)
        steps, moved, state = steps + 1, tf.reduce_max(tf.norm(new - state, axis=-1)), new
    return first.numpy(), state.numpy(), steps


_step = tf.function(cccp_step, reduce_retracing=True)


def run_capacity(config: CapacityConfig, verbose=0) -> dict:
    """Measure retrieval accuracy over the grid of `config`; returns the JSON-ready report.

    `verbose` (`keras_hw2.progress.Progress`: "auto", 0, 1, 2) shows a progress
    bar counting the queries retrieved (those of skipped cells count as done).

    Returns:
        ``{"config", "results": [one row per (D, N, beta, association)], "capacity":
        [one row per (D, beta, association, mode)]}``; a result row holds
        ``accuracy_one_step``, ``accuracy_converged``, ``error_one_step`` and
        ``mean_steps``; a capacity row ``largest_n`` (None: not even the
        smallest N) and ``saturated`` (every N of the grid passed).
    """
    cells = len(config.dims) * len(config.patterns) * len(config.betas) * len(config.associations)
    progress = Progress(cells * config.num_queries, "query", verbose)
    results = []
    for dim in config.dims:
        exhausted = set()  # the (association, beta) that retrieved nothing at a smaller N
        for num_patterns in config.patterns:
            stored, queries, targets = make_cell(dim, num_patterns, config)
            stored_tensor, query_tensor = tf.constant(stored), tf.constant(queries)
            for association in config.associations:
                for beta in config.betas:
                    if (association, beta) in exhausted:
                        progress.add(config.num_queries)
                        continue
                    one_step, final, steps = iterate(query_tensor, stored_tensor, beta, association, config.max_steps)
                    results.append({
                        "dim": dim, "num_patterns": num_patterns, "beta": beta, "association": association,
                        "accuracy_one_step": _accuracy(one_step, stored[targets]),
                        "accuracy_converged": _accuracy(final, stored[targets]),
                        "error_one_step": float(np.mean(np.linalg.norm(one_step - stored[targets], axis=1))
                                                / math.sqrt(dim)),
                        "steps": steps,
                    })
                    if results[-1]["accuracy_one_step"] == results[-1]["accuracy_converged"] == 0.0:
                        exhausted.add((association, beta))
                    progress.add(config.num_queries)
    return {"config": asdict(config), "results": results, "capacity": capacities(results, config)}


def capacities(results: list, config: CapacityConfig) -> list:
    """The largest N retrieved at >= ``config.threshold`` for each (D, beta, association, mode)."""
    rows = []
    for dim in config.dims:
        for association in config.associations:
            for beta in config.betas:
                cells = sorted((r for r in results if (r["dim"], r["beta"], r["association"]) == (
                    dim, beta, association)), key=lambda r: r["num_patterns"])
                for mode in MODES:
                    passing = [r["accuracy_" + mode] >= config.threshold for r in cells]
                    first_miss = passing.index(False) if False in passing else len(cells)
                    rows.append({"dim": dim, "beta": beta, "association": association, "mode": mode,
                                 "largest_n": cells[first_miss - 1]["num_patterns"] if first_miss else None,
                                 "saturated": first_miss == len(cells)})
    return rows


def format_capacity(report: dict) -> str:
    """The capacity table: one line per (association, beta, mode), one column per D."""
    dims = report["config"]["dims"]
    threshold = report["config"]["threshold"]
    lines = [f"largest N retrieved at >= {threshold:.0%} (grid {report['config']['patterns'][0]} ... "
             f"{report['config']['patterns'][-1]}; '>=': every N of the grid passed; '-': not even the smallest)",
             f"{'association':<11} {'beta':>6} {'mode':<10}" + "".join(f"{'D=' + str(d):>9}" for d in dims)]
    shown = {(r["association"], r["beta"], r["mode"], r["dim"]): "-" if r["largest_n"] is None else
             (">=" if r["saturated"] else "") + str(r["largest_n"]) for r in report["capacity"]}
    for association, beta, mode in dict.fromkeys(key[:3] for key in shown):  # in the report's order
        lines.append(f"{association:<11} {beta:>6g} {mode:<10}"
                     + "".join(f"{shown[association, beta, mode, dim]:>9}" for dim in dims))
    return "\n".join(lines)


def plot_capacity(report: dict, directory) -> dict:
    """Draw ``accuracy.png`` and ``capacity.png`` into `directory`; returns ``{"accuracy": path, "capacity": path}``."""
    directory = Path(directory)
    config = report["config"]
    return {"accuracy": _plot_accuracy(report["results"], config, directory / "accuracy.png"),
            "capacity": _plot_largest(report["capacity"], config, directory / "capacity.png")}


def write_capacity_run(config: CapacityConfig, run: Run, verbose=0) -> dict:
    """Measure, plot and write ``capacity.json`` into `run`; returns the report (with its ``files``)."""
    report = run_capacity(config, verbose=verbose)
    report["files"] = {name: path.name for name, path in plot_capacity(report, run.path).items()}
    write_json(run.file(CAPACITY_FILE), report)
    return report


def _accuracy(states: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.all(np.sign(states) == targets, axis=1)))


def _plot_accuracy(results: list, config: dict, path: Path) -> Path:
    rows, columns = len(config["associations"]), len(config["dims"])
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), dpi=100, squeeze=False,
                             sharex=True, sharey=True)
    for i, association in enumerate(config["associations"]):
        for j, dim in enumerate(config["dims"]):
            ax = axes[i, j]
            for k, beta in enumerate(config["betas"]):
                cells = [r for r in results if (r["dim"], r["association"], r["beta"]) == (dim, association, beta)]
                n = [r["num_patterns"] for r in cells]
                ax.plot(n, [r["accuracy_converged"] for r in cells], color=f"C{k}", marker="o", markersize=2,
                        label=f"beta={beta:g} converged")
                ax.plot(n, [r["accuracy_one_step"] for r in cells], color=f"C{k}", linestyle="--",
                        label=f"beta={beta:g} one step")
            ax.axhline(config["threshold"], color="grey", linewidth=0.5)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{association}, D={dim}", fontsize=8)
            ax.grid(alpha=0.3)
            if i == rows - 1:
                ax.set_xlabel("stored patterns N")
            if j == 0:
                ax.set_ylabel("retrieval accuracy")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"retrieval of random ±1 patterns, {config['flip']:.0%} of the signs flipped")
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _plot_largest(rows: list, config: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(MODES), figsize=(10, 4), dpi=100, sharey=True)
    styles = {name: style for name, style in zip(ASSOCIATIONS, (("-", "o", 7), ("--", "s", 5), (":", "^", 3)))}
    for ax, mode in zip(axes, MODES):
        for k, beta in enumerate(config["betas"]):
            for association in config["associations"]:
                cells = [r for r in rows if (r["mode"], r["beta"], r["association"]) == (mode, beta, association)]
                linestyle, marker, size = styles[association]  # overlapping lines stay visible: big to small
                ax.plot([r["dim"] for r in cells], [r["largest_n"] or np.nan for r in cells], color=f"C{k}",
                        linestyle=linestyle, marker=marker, markersize=size, label=f"{association}, beta={beta:g}")
        ax.set_yscale("log", base=2)
        ax.set_xlabel("pattern dim D")
        ax.set_title(f"{mode.replace('_', ' ')} retrieval", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"largest N retrieved at >= {config['threshold']:.0%}")
    axes[-1].legend(fontsize=6)
    fig.suptitle(f"capacity against D (grid up to N={config['patterns'][-1]})")
    fig.tight_layout()
    save_figure(fig, path)
    return path
