"""The Scenes tab: an image file of any size -> the 48x48 pixels the CNN receives and its top-k classes.

The pixels come from `keras_hw2.cnn.images.load_image` (the one image path) and
the classes from `keras_hw2.cnn.classify`. Before decoding, the file's header is
read (Pillow, no pixels decoded) so that a huge image is refused instead of
filling the memory: TensorFlow would decode all of a 20,000 x 20,000 image (1.2 GB)
before resizing it.
"""
import warnings
from pathlib import Path

import numpy as np

from keras_hw2.cnn.images import load_image
from keras_hw2.cnn.predict import classify
from keras_hw2.errors import InputError

MAX_PIXELS = 50_000_000  # largest image accepted (width x height): a 50-megapixel photo decodes to 150 MB
ZOOM = 6  # the 48x48 input is shown 6x larger, each pixel a 6x6 block (nothing interpolated)


def check_image_size(path) -> None:
    """Refuse an image file of more than `MAX_PIXELS` pixels, from its header (files Pillow cannot read pass).

    Raises:
        InputError: the image is too large; the message gives its size.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Image.DecompressionBombError:  # Pillow's own limit, far above ours
            width = height = None
        except Exception:  # not an image Pillow knows: load_image gives the message
            return
    if width is None or width * height > MAX_PIXELS:
        size = "more than 178 million" if width is None else f"{width} x {height} = {width * height:,}"
        raise InputError(f"{Path(path).name}: the image is too large ({size} pixels); "
                         f"at most {MAX_PIXELS:,} pixels are accepted")


def classify_file(model, path, top_k: int = 3) -> tuple:
    """The tab's main function: ``(pixels, classes)`` for one image file.

    Args:
        model: a trained CNN (`keras_hw2.cnn.load_classifier`).
        path: an image file (JPEG, PNG, BMP, GIF) of any size up to `MAX_PIXELS`.
        top_k: classes to return, 1 to 6.

    Returns:
        ``pixels``: uint8 ``(48 * ZOOM, 48 * ZOOM, 3)``, the model's input enlarged;
        ``classes``: ``{class name: probability}`` of the `top_k` most probable classes.

    Raises:
        InputError: no file, an image too large, or a file that is not an image.
    """
    if path is None:
        raise InputError("no image: upload or drop an image file, or pick an example")
    check_image_size(path)
    try:
        pixels = load_image(path)
    except InputError as e:  # the message names the upload's temporary path: name the file instead
        raise InputError(str(e).replace(str(path), Path(path).name)) from None
    classes = classify(model, pixels[np.newaxis], top_k)[0]
    return enlarge(pixels), dict(classes)


def enlarge(pixels: np.ndarray, zoom: int = ZOOM) -> np.ndarray:
    """``(H, W, C)`` -> ``(H * zoom, W * zoom, C)``, each pixel repeated as a block.

    Example:
    >>> enlarge(np.arange(2, dtype="uint8").reshape(1, 2, 1), zoom=2)[..., 0].tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    return np.repeat(np.repeat(pixels, zoom, axis=0), zoom, axis=1)


def write_examples(directory, seed: int = 0) -> list:
    """One synthetic demo image per class (`keras_hw2.cnn.synthetic`) as PNG files; ``[(path, label), ...]``."""
    from PIL import Image

    from keras_hw2.cnn.data import CLASS_NAMES
    from keras_hw2.cnn.synthetic import generate_images

    images, labels = generate_images(num_per_class=1, seed=seed)
    examples = []
    for image, label in zip(images, labels):
        path = Path(directory) / f"synthetic_{CLASS_NAMES[label]}.png"
        Image.fromarray(image).save(path)
        examples.append((str(path), f"synthetic {CLASS_NAMES[label]}"))
    return examples
