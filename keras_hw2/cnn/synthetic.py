"""The embedded demo data: a generated 6-class scene-like image set.

Each class is a parametric pattern that loosely imitates its Intel scene class
(buildings: window grids, forest: vertical trunks, glacier: smooth bright blobs,
mountain: a jagged ridge under a sky, sea: horizontal waves under a horizon,
street: lines converging on a vanishing point). To keep it from being trivial,
every image gets a random palette that overlaps between classes, random
frequencies and phases, a faint copy of another class's pattern blended in,
and pixel noise, so colour alone does not give the class away.

Example:
>>> images, labels = generate_images(num_per_class=2, seed=0)
>>> images.shape, images.dtype.name, labels.tolist()
((12, 48, 48, 3), 'uint8', [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
"""
import numpy as np

SIZE = 48
_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype("float32") / SIZE  # each (48, 48), in [0, 1)

# Base RGB colour of each class's two tones (dark, light); jittered per image.
_PALETTES = np.array([
    [[90, 80, 75], [190, 180, 160]],    # buildings: grey-brown walls, light windows
    [[30, 70, 30], [110, 160, 80]],     # forest: dark trunks, green foliage
    [[150, 180, 200], [235, 245, 250]],  # glacier: blue-white
    [[80, 80, 90], [150, 180, 220]],    # mountain: grey rock, sky
    [[20, 60, 120], [120, 170, 210]],   # sea: deep blue, sky
    [[70, 70, 70], [160, 150, 140]],    # street: asphalt, walls
], dtype="float32")


def _buildings(rng):
    fx, fy = rng.uniform(4, 10, size=2)
    windows = (np.sin(2 * np.pi * fx * _X + rng.uniform(0, 6)) > 0.3) & (np.sin(2 * np.pi * fy * _Y) > 0.2)
    roof = _Y > rng.uniform(0.05, 0.35)
    return (windows & roof).astype("float32")


def _forest(rng):
    trunks = sum(np.sin(2 * np.pi * f * _X + rng.uniform(0, 6)) for f in rng.uniform(3, 12, size=3))
    canopy = np.sin(2 * np.pi * rng.uniform(1, 3) * _Y) * 0.5
    return (trunks / 3 + canopy * 0.3 > 0).astype("float32")


def _glacier(rng):
    field = sum(np.sin(2 * np.pi * (a * _X + b * _Y) + p)
                for a, b, p in rng.uniform([-2, -2, 0], [2, 2, 6], size=(3, 3)))
    return np.clip(0.5 + field / 6, 0, 1)


def _mountain(rng):
    ridge = rng.uniform(0.3, 0.6) + np.cumsum(rng.normal(0, 0.04, size=SIZE))
    peak = rng.uniform(0.2, 0.8)
    ridge = ridge + 0.5 * np.abs(np.arange(SIZE) / SIZE - peak)
    return (_Y < ridge[None, :]).astype("float32")


def _sea(rng):
    horizon = rng.uniform(0.25, 0.55)
    waves = np.sin(2 * np.pi * rng.uniform(6, 14) * _Y + 2 * np.sin(2 * np.pi * rng.uniform(1, 3) * _X))
    return np.where(_Y < horizon, 1.0, 0.3 + 0.2 * waves).astype("float32")


def _street(rng):
    vx, vy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.5)
    angle = np.arctan2(_Y - vy, _X - vx)
    rays = np.sin(rng.integers(4, 9) * angle + rng.uniform(0, 6)) > 0.5
    return np.where(_Y > vy, rays, 0.6).astype("float32")


_PATTERNS = (_buildings, _forest, _glacier, _mountain, _sea, _street)
NUM_CLASSES = len(_PATTERNS)


def _render(label, rng):
    """One (48, 48, 3) uint8 image of class `label`."""
    pattern = _PATTERNS[label](rng)
    other = _PATTERNS[rng.integers(NUM_CLASSES)](rng)
    mix = rng.uniform(0.0, 0.35)
    tone = (1 - mix) * pattern + mix * other  # (48, 48) in [0, 1]
    dark, light = _PALETTES[label] + rng.normal(0, 45, size=(2, 3))
    image = dark + tone[..., None] * (light - dark)
    image = image * rng.uniform(0.6, 1.3) + rng.normal(0, 25, size=image.shape)
    return np.clip(image, 0, 255).astype("uint8")


def generate_images(num_per_class: int, seed: int = 0):
    """Generate `num_per_class` images of each of the 6 classes, sorted by label.

    Args:
        num_per_class: images per class, at least 1.
        seed: seed of the generator; the same seed gives the same images.

    Returns:
        ``(images, labels)``: uint8 ``(6 * num_per_class, 48, 48, 3)`` and
        int64 ``(6 * num_per_class,)`` in 0..5.
    """
    if not isinstance(num_per_class, int) or num_per_class < 1:
        raise ValueError(f"num_per_class must be a positive integer. Received: num_per_class={num_per_class!r}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES, dtype="int64"), num_per_class)
    images = np.stack([_render(int(label), rng) for label in labels])
    return images, labels
