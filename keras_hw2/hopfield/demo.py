"""The retrieval demo: store patterns, corrupt queries, retrieve them by CCCP.

Steps:
1. Stored patterns: real images (the ``train_images`` of a CNN ``.npz``) or
   random binary images; each centred on the mean pattern and scaled to unit
   norm, so one beta grid suits both.
2. Queries: copies of randomly chosen stored patterns, corrupted by additive
   Gaussian noise (``noise``: noise norm = level x pattern norm) and by masking
   (``mask``: a fraction ``level`` of the pixels set to the mean pattern).
3. Retrieval with `retrieve` for every beta; a query counts as retrieved when
   its final state is closer to its own stored pattern than to any other.
4. ``report.json`` (accuracy per corruption, level and beta), ``accuracy.png``,
   ``energy.png`` (energy versus update step) and ``examples.png``
   (query / retrieved / target triples).
"""
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.checks import Integer, Number
from keras_hw2.errors import InputError
from keras_hw2.hopfield.maths import retrieve
from keras_hw2.plots import plot_curves, plt, save_figure
from keras_hw2.progress import Progress
from keras_hw2.runs import Run, write_json

CORRUPTIONS = ("noise", "mask")


@dataclass
class RetrieveConfig:
    """Configuration of the retrieval demo (written to the run's config.json)."""

    data: str | None = None  # .npz with train_images (uint8, (n, H, W, C)); None: random binary patterns
    num_patterns: int = 256  # N, the number of stored patterns
    pattern_size: int = 16  # side of the generated square binary patterns (D = pattern_size^2)
    num_queries: int = 64  # corrupted queries per (corruption, level)
    betas: tuple = (1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)  # inverse temperatures (patterns have unit norm)
    noise_levels: tuple = (1.0, 4.0, 16.0, 64.0)  # additive Gaussian noise: noise norm / pattern norm; () skips
    mask_levels: tuple = (0.2, 0.4, 0.6, 0.8)  # masking: fraction of pixels set to the mean pattern; () skips
    max_steps: int = 20  # the most CCCP updates per retrieval
    tol: float = 1e-6  # stop once no state moves more than this
    seed: int = 0  # seed of the patterns, targets and corruption

    def __post_init__(self):
        for name in ("num_patterns", "pattern_size", "num_queries", "max_steps", "seed"):
            Integer(minimum=0 if name == "seed" else 1).check(f"--{name.replace('_', '-')}", getattr(self, name))
        if not self.betas:
            raise InputError("--betas must list at least one inverse temperature. Received: --betas=")
        for beta in self.betas:
            Number(low=0, low_open=True).check("--betas", beta)
        for level in self.noise_levels:
            Number(low=0).check("--noise-levels", level)
        for level in self.mask_levels:
            Number(0, 1, high_open=True).check("--mask-levels", level)
        Number(low=0).check("--tol", self.tol)
        if not self.noise_levels and not self.mask_levels:
            raise InputError("--noise-levels and --mask-levels are both empty; give at least one level")
        if self.num_queries > self.num_patterns:
            raise InputError(f"--num-queries must not exceed --num-patterns ({self.num_patterns}). "
                             f"Received: --num-queries={self.num_queries}")
        self.betas, self.noise_levels, self.mask_levels = map(tuple, (self.betas, self.noise_levels, self.mask_levels))

    @property
    def corruptions(self) -> dict:
        """``{"noise": levels, "mask": levels}`` for the kinds with levels."""
        levels = {"noise": self.noise_levels, "mask": self.mask_levels}
        return {kind: levels[kind] for kind in CORRUPTIONS if levels[kind]}


def load_patterns(config: RetrieveConfig) -> np.ndarray:
    """The raw stored patterns, ``(num_patterns, H, W, C)`` float32 (call it before opening the run).

    Raises:
        InputError: the file is missing, unreadable, lacks ``train_images``,
            holds images of another shape or dtype, or too few of them.
    """
    rng = np.random.default_rng([config.seed, 0])
    if config.data is None:
        size = config.pattern_size
        return rng.choice([-1.0, 1.0], size=(config.num_patterns, size, size, 1)).astype("float32")
    path = Path(config.data)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path) as archive:
            if "train_images" not in archive:
                raise InputError(f"{path}: no key 'train_images' (keys: {', '.join(archive.files)})")
            images = archive["train_images"]
    except (OSError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if images.ndim != 4 or images.dtype != np.uint8:
        raise InputError(f"{path}: train_images must be uint8 of shape (n, H, W, C); "
                         f"got {images.dtype} {images.shape}")
    if len(images) < config.num_patterns:
        raise InputError(f"{path}: train_images holds {len(images)} images, fewer than --num-patterns "
                         f"{config.num_patterns}")
    chosen = rng.choice(len(images), size=config.num_patterns, replace=False)
    return images[np.sort(chosen)].astype("float32") / 255.0


def normalise(patterns: np.ndarray) -> np.ndarray:
    """Centre ``(N, H, W, C)`` patterns on their mean and scale them to unit norm; returns ``(N, D)``."""
    flat = (patterns - patterns.mean(axis=0)).reshape(len(patterns), -1)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def corrupt(stored: np.ndarray, image_shape: tuple, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """Corrupted copies of ``stored`` (``(Q, D)``, unit norm rows).

    ``noise``: add Gaussian noise of norm ``level``; ``mask``: set a random
    fraction ``level`` of the pixels (all channels) to 0, i.e. to the mean pattern.
    """
    if kind == "noise":
        noise = rng.normal(size=stored.shape)
        return stored + level * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    height, width, channels = image_shape
    keep = rng.random((len(stored), height, width, 1)) >= level
    return stored * np.broadcast_to(keep, (len(stored), height, width, channels)).reshape(len(stored), -1)


def run_retrieval_demo(config: RetrieveConfig, raw: np.ndarray, run: Run, verbose=0) -> dict:
    """Run the demo on ``raw = load_patterns(config)`` into ``run``'s directory.

    `verbose` (`keras_hw2.progress.Progress`: "auto", 0, 1, 2) shows a progress
    bar counting the queries retrieved (``num_queries`` per corruption, level and beta).

    Returns:
        The report, also written to ``report.json``.
    """
    rng = np.random.default_rng([config.seed, 1])
    stored = normalise(raw)
    image_shape = raw.shape[1:]
    stored_tensor = tf.constant(stored, tf.float32)
    targets = rng.choice(config.num_patterns, size=config.num_queries, replace=False)
    results, energy_curves, examples = [], {}, {}
    energy_kind = "mask" if config.mask_levels else "noise"  # masked queries keep norms near 1: a readable scale
    shown_level = {kind: levels[len(levels) // 2] for kind, levels in config.corruptions.items()}
    num_batches = sum(len(levels) for levels in config.corruptions.values()) * len(config.betas)
    progress = Progress(num_batches * config.num_queries, "query", verbose)
    for kind, levels in config.corruptions.items():
        for level in levels:
            queries = corrupt(stored[targets], image_shape, kind, level, rng).astype("float32")
            for beta in config.betas:
                retrieval = retrieve(queries, stored_tensor, beta, max_steps=config.max_steps, tol=config.tol)
                final = retrieval.state.numpy()
                nearest = np.argmax(final @ stored.T, axis=1)
                results.append({
                    "corruption": kind, "level": level, "beta": beta,
                    "accuracy": float(np.mean(nearest == targets)),
                    "mean_distance_to_target": float(np.mean(np.linalg.norm(final - stored[targets], axis=1))),
                    "num_steps": int(retrieval.num_steps),
                })
                if kind == energy_kind and level == shown_level[kind]:
                    energy_curves[f"beta={beta:g}"] = retrieval.energies.numpy().mean(axis=1).tolist()
                if beta == config.betas[-1] and level == shown_level[kind]:
                    examples[kind] = (queries[:4], final[:4], stored[targets[:4]])
                progress.add(len(queries))
    files = {
        "accuracy": _plot_accuracy(results, config, run.file("accuracy.png")),
        "energy": plot_curves(energy_curves, run.file("energy.png"), xlabel="state index (1 = the query q_0)",
                              ylabel="mean energy E(q_t)",
                              title=f"CCCP energy, {energy_kind} {shown_level[energy_kind]:g}"),
        "examples": _plot_examples(examples, image_shape, config.betas[-1], run.file("examples.png")),
    }
    report = {"config": asdict(config), "num_patterns": int(stored.shape[0]), "dim": int(stored.shape[1]),
              "image_shape": list(image_shape), "results": results,
              "files": {name: path.name for name, path in files.items()}}
    write_json(run.file("report.json"), report)
    return report


def format_results(report: dict) -> str:
    """Accuracy table: one line per (corruption, level), one column per beta."""
    betas = report["config"]["betas"]
    lines = [f"retrieval accuracy, N={report['num_patterns']} D={report['dim']} "
             f"(rows: corruption level; columns: beta)",
             f"{'':<12}" + "".join(f"{b:>9g}" for b in betas)]
    table = {}
    for row in report["results"]:
        table.setdefault((row["corruption"], row["level"]), []).append(row["accuracy"])
    for (kind, level), accuracies in table.items():
        lines.append(f"{kind + ' ' + format(level, 'g'):<12}" + "".join(f"{a:>9.3f}" for a in accuracies))
    return "\n".join(lines)


def _plot_accuracy(results: list, config: RetrieveConfig, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for kind, levels in config.corruptions.items():
        for level in levels:
            rows = [r for r in results if r["corruption"] == kind and r["level"] == level]
            ax.plot([r["beta"] for r in rows], [r["accuracy"] for r in rows], marker="o", markersize=3,
                    linestyle="-" if kind == "noise" else "--", label=f"{kind} {level:g}")
    ax.set_xscale("log")
    ax.set_xlabel("beta")
    ax.set_ylabel("retrieval accuracy")
    ax.set_title("retrieval accuracy against beta and corruption")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _plot_examples(examples: dict, image_shape: tuple, beta: float, path: Path) -> Path:
    """Rows query / retrieved / target; four columns per corruption kind."""
    columns = [(kind, i) for kind, triple in examples.items() for i in range(len(triple[0]))]
    fig, axes = plt.subplots(3, len(columns), figsize=(1.3 * len(columns), 4.2), dpi=100, squeeze=False)
    for column, (kind, i) in enumerate(columns):
        for row, (label, images) in enumerate(zip(("query", "retrieved", "target"), examples[kind])):
            ax = axes[row, column]
            ax.imshow(_displayable(images[i], image_shape), cmap="gray" if image_shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(kind, fontsize=8)
    fig.suptitle(f"query / retrieved / target at beta={beta:g}")
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _displayable(flat: np.ndarray, image_shape: tuple) -> np.ndarray:
    image = flat.reshape(image_shape)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
    return image[..., 0] if image_shape[-1] == 1 else image
