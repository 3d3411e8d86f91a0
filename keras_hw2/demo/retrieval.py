"""The Hopfield tab: store patterns, corrupt one, and watch the CCCP update ``q <- X^T softmax(beta X q)`` retrieve it.

The update, the energy and the iteration to a fixed point are `keras_hw2.hopfield`'s
`cccp_step`, `energy` and `retrieve`; random patterns and the corruption are the
retrieval demo's (`keras_hw2.hopfield.demo.load_patterns` and `corrupt`). Stored
patterns are scaled to unit norm, so one range of beta suits both pattern sets.
"""
from dataclasses import dataclass, field

import numpy as np

from keras_hw2.checks import Choice, Integer, Number

PATTERN_SETS = ("bitmaps", "random")
CORRUPTIONS = ("mask", "noise")
MAX_RUN_STEPS = 50  # the most updates one press of "run" makes
RANDOM_SIZE = 10  # side of the random square patterns
PIXEL = 8  # each pattern pixel is shown as an 8x8 block
# The built-in bitmaps: six 10x10 glyphs ('#' = +1, '.' = -1).
BITMAPS = {
    "H": ["##......##"] * 4 + ["##########"] * 2 + ["##......##"] * 4,
    "O": [".########.", "##......##", *["##......##"] * 6, "##......##", ".########."],
    "T": ["##########"] * 2 + ["....##...."] * 8,
    "X": ["##......##", ".##....##.", "..##..##..", "...####...", "....##....",
          "...####...", "..##..##..", ".##....##.", "##......##", "#........#"],
    "L": ["##........"] * 8 + ["##########"] * 2,
    "+": ["....##...."] * 4 + ["##########"] * 2 + ["....##...."] * 4,
}


@dataclass
class Trajectory:
    """One retrieval shown on the page: the stored patterns, the target, and every state so far.

    Attributes:
        stored: ``(num_patterns, dim)`` float64, unit-norm rows.
        names: a name per stored pattern.
        side: the patterns' side (``dim == side * side``).
        target: the index of the corrupted pattern.
        states: ``[q_0, q_1, ...]``, each ``(dim,)``; q_0 is the corrupted query.
        energies: ``E(q_t)`` for each state (at the beta of the update that made it).
    """
    stored: np.ndarray
    names: list
    side: int
    target: int
    states: list = field(default_factory=list)
    energies: list = field(default_factory=list)


def stored_patterns(pattern_set: str, num_random: int = 8, seed: int = 0) -> tuple:
    """``(patterns (N, side * side) unit-norm float64, names, side)`` of the built-in bitmaps or random ones."""
    Choice(PATTERN_SETS).check("pattern set", pattern_set)
    if pattern_set == "bitmaps":
        raw = np.array([[[1.0 if c == "#" else -1.0 for c in row] for row in glyph] for glyph in BITMAPS.values()])
        names = list(BITMAPS)
    else:
        from keras_hw2.hopfield.demo import RetrieveConfig, load_patterns

        Integer(2, 64).check("random patterns", num_random)
        raw = load_patterns(RetrieveConfig(num_patterns=num_random, pattern_size=RANDOM_SIZE, num_queries=1,
                                           seed=seed))[..., 0].astype("float64")
        names = [f"#{i + 1}" for i in range(num_random)]
    flat = raw.reshape(len(raw), -1)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True), names, raw.shape[1]


def new_query(pattern_set: str, target, corruption: str, level: float, beta: float, num_random: int = 8,
              seed: int = 0) -> Trajectory:
    """Store a pattern set and corrupt pattern `target` (a name or index): a `Trajectory` holding q_0.

    `corruption` "mask" sets a fraction `level` of the pixels to 0; "noise" adds
    Gaussian noise of norm `level` (the patterns have norm 1).
    """
    from keras_hw2.hopfield.demo import corrupt

    Choice(CORRUPTIONS).check("corruption", corruption)
    Number(0, 1, high_open=corruption == "mask").check("corruption level", level)
    stored, names, side = stored_patterns(pattern_set, num_random, seed)
    index = names.index(target) if target in names else target
    Integer(0, len(names) - 1).check("pattern", index)
    rng = np.random.default_rng([seed, 1])
    query = corrupt(stored[index:index + 1], (side, side, 1), corruption, level, rng)[0]
    trajectory = Trajectory(stored, names, side, index)
    _append(trajectory, [query], beta)
    return trajectory


def step(trajectory: Trajectory, beta: float) -> Trajectory:
    """One CCCP update of the last state (`keras_hw2.hopfield.cccp_step`)."""
    from keras_hw2.hopfield import cccp_step

    _check_beta(beta)
    new = cccp_step(trajectory.states[-1][np.newaxis], trajectory.stored, beta).numpy()[0]
    _append(trajectory, [new], beta)
    return trajectory


def run(trajectory: Trajectory, beta: float) -> Trajectory:
    """Updates until a fixed point or `MAX_RUN_STEPS` (`keras_hw2.hopfield.retrieve`)."""
    from keras_hw2.hopfield import retrieve

    _check_beta(beta)
    result = retrieve(trajectory.states[-1][np.newaxis], trajectory.stored, beta, max_steps=MAX_RUN_STEPS)
    _append(trajectory, list(result.trajectory.numpy()[1:, 0]), beta)
    return trajectory


def nearest(trajectory: Trajectory) -> int:
    """The index of the stored pattern most similar (largest dot product) to the last state."""
    return int(np.argmax(trajectory.stored @ trajectory.states[-1]))


def summary(trajectory: Trajectory) -> str:
    """One line: steps so far, the last energy, and whether the state is the stored pattern's."""
    found, target = nearest(trajectory), trajectory.target
    distance = float(np.linalg.norm(trajectory.states[-1] - trajectory.stored[target]))
    verdict = (f"retrieved: {trajectory.names[found]}, the stored pattern" if found == target
               else f"retrieved: {trajectory.names[found]}, NOT the stored pattern {trajectory.names[target]}")
    return (f"after {len(trajectory.states) - 1} steps: energy {trajectory.energies[-1]:.4f}; {verdict} "
            f"(distance to it {distance:.4f})")


def tiles(trajectory: Trajectory, last: int = 9) -> list:
    """``[(uint8 image (side * PIXEL, side * PIXEL), caption), ...]``: the stored pattern, q_0, the last states.

    Each state is shown in grey levels: 0 mid-grey, its largest positive entry black (a bitmap's ink),
    its most negative white.
    """
    steps = list(range(len(trajectory.states)))
    shown = steps if len(steps) <= last else [0, *steps[1 - last:]]
    images = [(trajectory.stored[trajectory.target], f"stored {trajectory.names[trajectory.target]}"),
              *((trajectory.states[t], f"q{t}" + (" (query)" if t == 0 else "")) for t in shown)]
    out = []
    for state, caption in images:
        scale = max(float(np.abs(state).max()), 1e-12)
        grey = np.round(127.5 - 127.5 * state.reshape(trajectory.side, trajectory.side) / scale).astype(np.uint8)
        out.append((np.kron(grey, np.ones((PIXEL, PIXEL), np.uint8)), caption))
    return out


def _append(trajectory: Trajectory, states: list, beta: float) -> None:
    from keras_hw2.hopfield import energy

    energies = energy(np.stack(states), trajectory.stored, beta).numpy()
    trajectory.states += [np.asarray(s, np.float64) for s in states]
    trajectory.energies += [float(e) for e in energies]


def _check_beta(beta) -> None:
    Number(0, 1e6, low_open=True).check("beta", beta)
