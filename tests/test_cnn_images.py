"""The one image-decoding function: any size and format in, uint8 48x48x3 out, the same on every path."""

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


def test_a_file_gets_the_same_pixels_on_all_four_paths(tmp_path):
    """Folder loader, predict, the export's serve_image_bytes and the serving client decode alike."""
    import keras

    from keras_hw2.cnn.data import CLASS_NAMES, load_split
    from keras_hw2.cnn.predict import classify_files
    from keras_hw2.cnn.serving import export_model
    from keras_hw2.serving.inputs import image_array

    probe = tmp_path / "probe.jpg"
    probe.write_bytes(tf.io.encode_jpeg(_gradient(131, 97), quality=90).numpy())
    pixels = load_image(probe)
    # 1. the Kaggle folder loader (the probe is seg_test's only "buildings" image, so it comes first)
    for name in CLASS_NAMES:
        (tmp_path / "intel" / "seg_test" / name).mkdir(parents=True)
        (tmp_path / "intel" / "seg_test" / name / "0.png").write_bytes(tf.io.encode_png(_gradient(50, 50)).numpy())
    (tmp_path / "intel" / "seg_test" / "buildings" / "0.png").write_bytes(probe.read_bytes())
    np.testing.assert_array_equal(load_split(tmp_path / "intel", "test")[0][0], pixels)
    # 2. predict reads files with load_images
    np.testing.assert_array_equal(load_images([probe])[0], pixels)
    # 4. the serving client, filling a uint8 signature
    spec = tf.TensorSpec((None, *IMAGE_SHAPE), tf.uint8, name="images")
    np.testing.assert_array_equal(image_array([str(probe)], spec)[0], pixels)
    # 3. the export decodes inside its graph; a model whose every output depends on every pixel (all weights
    # at least 0.01 in size) gives the pixels' probabilities only if its decoded pixels equal `pixels`.
    rng = np.random.default_rng(0)
    weights = rng.choice([-1, 1], (int(np.prod(IMAGE_SHAPE)), len(CLASS_NAMES))) * rng.uniform(0.01, 0.02, (1, 1))
    model = keras.Sequential([keras.Input(IMAGE_SHAPE), keras.layers.Flatten(),
                              keras.layers.Dense(len(CLASS_NAMES), kernel_initializer=keras.initializers.Constant(
                                  weights / 255.0)), keras.layers.Activation("log_softmax")])
    exported = tf.saved_model.load(str(export_model(model, "probe", root=tmp_path / "models")))
    by_bytes = exported.signatures["serve_image_bytes"](image_bytes=tf.constant([probe.read_bytes()]))
    by_pixels = exported.signatures["serving_default"](images=tf.constant(pixels[None]))
    np.testing.assert_allclose(by_bytes["probabilities"].numpy(), by_pixels["probabilities"].numpy(), rtol=1e-6)
    shifted = exported.signatures["serving_default"](images=tf.constant(np.minimum(pixels + 1, 255)[None]))
    assert not np.allclose(shifted["probabilities"].numpy(), by_pixels["probabilities"].numpy(), rtol=1e-6)
    # predict's probabilities are those of the export
    expected = by_pixels["probabilities"].numpy()[0]
    top = classify_files(model, [probe], top_k=6)[0]["classes"]
    np.testing.assert_allclose([p for _, p in top], np.sort(expected)[::-1], rtol=1e-5)
