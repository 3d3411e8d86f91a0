"""The one image-decoding function: any size and format in, uint8 48x48x3 out."""
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.cnn.images import IMAGE_SHAPE, decode_image, decode_images, load_image, load_images
from keras_hw2.errors import InputError


def _gradient(height, width):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1).astype("uint8")


@pytest.mark.parametrize("encode", [tf.io.encode_png, lambda im: tf.io.encode_jpeg(im, quality=100)])
def test_any_size_becomes_48x48_rgb(encode):
    image = decode_image(encode(_gradient(150, 120)))
    assert image.shape == IMAGE_SHAPE and image.dtype == tf.uint8


def test_grey_and_rgba_become_rgb(tmp_path):
    grey = tf.io.encode_png(np.full((10, 10, 1), 77, "uint8"))
    rgba = tf.io.encode_png(np.concatenate([np.full((10, 10, 3), 9, "uint8"), np.full((10, 10, 1), 255, "uint8")], -1))
    assert np.all(decode_image(grey).numpy() == 77)
    assert np.all(decode_image(rgba).numpy() == 9)


def test_a_48x48_png_is_decoded_unchanged():
    pixels = _gradient(48, 48)
    np.testing.assert_array_equal(decode_image(tf.io.encode_png(pixels)).numpy(), pixels)


def test_batch_and_file_paths_agree(tmp_path):
    files = []
    for i, size in enumerate([(60, 80), (48, 48), (200, 100)]):
        path = tmp_path / f"{i}.png"
        path.write_bytes(tf.io.encode_png(_gradient(*size)).numpy())
        files.append(path)
    batch = decode_images(tf.constant([f.read_bytes() for f in files])).numpy()
    np.testing.assert_array_equal(batch, load_images(files))
    assert load_images([]).shape == (0, *IMAGE_SHAPE)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(InputError, match=r"x\.jpg: not a file"):
        load_image(tmp_path / "x.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match=r"text\.png: cannot be decoded as an image"):
        load_image(tmp_path / "text.png")
