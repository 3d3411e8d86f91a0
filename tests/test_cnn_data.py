"""keras_hw2.cnn.data: npz and Kaggle-folder loaders, their errors, synthetic data, tf.data pipeline."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.cli import run_main
from keras_hw2.cnn.data import (CLASS_NAMES, load_data, load_folder, load_npz, load_split, make_dataset,
                                write_synthetic_npz)
from keras_hw2.cnn.synthetic import generate_images
from keras_hw2.errors import InputError


def _arrays(n=12, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n, 48, 48, 3)).astype("uint8"),
              "train_labels": np.arange(n) % 6,
              "val_images": rng.integers(0, 256, (n, 48, 48, 3)).astype("uint8"),
              "val_labels": np.arange(n) % 6}
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def _npz(tmp_path, **overrides):
    path = tmp_path / "data.npz"
    np.savez(path, **_arrays(**overrides))
    return path


def test_npz_accepts_flattened_images_and_column_labels(tmp_path):
    arrays = _arrays()
    path = _npz(tmp_path, train_images=arrays["train_images"].reshape(12, 6912),
                val_images=arrays["val_images"].reshape(12, 6912), train_labels=arrays["train_labels"][:, None],
                val_labels=arrays["val_labels"][:, None], test_images=arrays["val_images"].reshape(12, 6912),
                test_labels=arrays["val_labels"])
    data = load_npz(path)
    images, labels = data.splits["train"]
    assert images.shape == (12, 48, 48, 3) and images.dtype == np.uint8 and labels.shape == (12,)
    np.testing.assert_array_equal(images, arrays["train_images"])
    assert set(data.splits) == {"train", "val", "test"}


@pytest.mark.parametrize("overrides, message", [
    ({"val_labels": None}, r"missing key\(s\) val_labels"),
    ({"test_images": np.zeros((6, 48, 48, 3), "uint8")}, r"missing key\(s\) test_labels"),
    ({"train_images": np.zeros((12, 48, 48, 3), "float32")}, "train_images has dtype float32; expected uint8"),
    ({"val_images": np.zeros((12, 32, 32, 3), "uint8")}, r"val_images has shape \(12, 32, 32, 3\); expected"),
    ({"train_labels": np.full(12, 6)}, r"train_labels holds values outside 0..5 \(min 6, max 6\)"),
    ({"val_labels": np.full(12, -1)}, "val_labels holds values outside 0..5"),
    ({"train_labels": np.zeros(11, "int64")}, "train_images has 12 images but train_labels has 11 labels"),
    ({"val_images": np.zeros((12, 6912), "uint8")}, r"val_images has per-image shape \(6912,\) but train_images has"),
    ({"train_labels": np.zeros(12, "float32")}, "train_labels has dtype float32; expected integers"),
    ({"class_names": np.array(["cat", *CLASS_NAMES[1:]])},
     "its classes differ from the model's .missing buildings; unexpected cat.: cat, forest"),
])
def test_bad_npz_is_refused_naming_file_and_problem(tmp_path, overrides, message):
    path = _npz(tmp_path, **overrides)
    with pytest.raises(InputError, match=message) as error:
        load_npz(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_missing_path_and_non_npz_file_are_refused(tmp_path):
    with pytest.raises(InputError, match="nope.npz: no such file or directory"):
        load_data(tmp_path / "nope.npz")
    (tmp_path / "notes.npz").write_text("not a zip")
    with pytest.raises(InputError, match="notes.npz: not a readable .npz file"):
        load_data(tmp_path / "notes.npz")


def _write_folder(root, per_class=5, doubled=False, test=True, size=(60, 50)):
    rng = np.random.default_rng(0)
    splits = ["seg_train", "seg_test"] if test else ["seg_train"]
    for split in splits:
        base = root / split / split if doubled else root / split
        for name in CLASS_NAMES:
            (base / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (*size, 3)).astype("uint8")
                (base / name / f"{i}.jpg").write_bytes(tf.io.encode_jpeg(pixels).numpy())
    return root


@pytest.mark.parametrize("doubled", [False, True])
def test_kaggle_folder_loads_resized_with_stratified_seeded_split(tmp_path, doubled):
    root = _write_folder(tmp_path / "intel", per_class=10, doubled=doubled)
    data = load_folder(root, seed=1, val_fraction=0.2)
    (train_x, train_y), (val_x, val_y) = data.splits["train"], data.splits["val"]
    assert train_x.shape == (48, 48, 48, 3) and train_x.dtype == np.uint8
    assert np.bincount(val_y).tolist() == [2] * 6 and np.bincount(train_y).tolist() == [8] * 6
    assert data.splits["test"][0].shape == (60, 48, 48, 3)
    again = load_folder(root, seed=1, val_fraction=0.2)
    np.testing.assert_array_equal(again.splits["val"][0], val_x)
    other = load_folder(root, seed=2, val_fraction=0.2)
    assert not np.array_equal(other.splits["val"][0], val_x)


def test_folder_without_test_split_has_train_and_val_only(tmp_path):
    data = load_data(_write_folder(tmp_path / "intel", per_class=3, test=False))
    assert set(data.splits) == {"train", "val"}


def test_empty_class_folder_is_refused(tmp_path):
    root = _write_folder(tmp_path / "intel", per_class=2, test=False)
    for file in (root / "seg_train" / "sea").iterdir():
        file.unlink()
    with pytest.raises(InputError, match=r"seg_train/sea: empty class folder"):
        load_folder(root)


def test_missing_class_folder_and_missing_seg_train_are_refused(tmp_path):
    root = _write_folder(tmp_path / "intel", per_class=1, test=False)
    (root / "seg_train" / "forest" / "0.jpg").unlink()
    (root / "seg_train" / "forest").rmdir()
    with pytest.raises(InputError, match=r"seg_train: its classes differ from the model's \(missing forest\): "
                                         "buildings, glacier, mountain, sea, street; the model's classes are "
                                         "buildings, forest, glacier"):
        load_folder(root)
    with pytest.raises(InputError, match="no seg_train/ folder"):
        load_folder(tmp_path)


def test_undecodable_image_is_an_error_naming_it(tmp_path):
    root = _write_folder(tmp_path / "intel", per_class=2, test=False)
    (root / "seg_train" / "glacier" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "seg_train" / "sea" / "x.png").write_bytes(b"nor this a png")
    with pytest.raises(InputError, match=r"glacier/broken.jpg: cannot be decoded as an image .* \(2 unreadable"):
        load_folder(root)


def test_a_directory_named_like_an_image_is_an_error_naming_it(tmp_path):
    root = _write_folder(tmp_path / "intel", per_class=2, test=False)
    (root / "seg_train" / "forest" / "x.jpg").mkdir()
    with pytest.raises(InputError, match=r"forest/x.jpg: not a file \(an image file was expected\) \(1 unreadable"):
        load_folder(root)


def test_folder_pixels_are_those_of_the_one_image_decoder(tmp_path):
    from keras_hw2.cnn.images import load_image

    root = _write_folder(tmp_path / "intel", per_class=2, test=False, size=(90, 70))
    data = load_folder(root, val_fraction=0.5)
    images = np.concatenate([data.splits["train"][0], data.splits["val"][0]])
    labels = np.concatenate([data.splits["train"][1], data.splits["val"][1]])
    for label, name in enumerate(CLASS_NAMES):
        loaded = sorted(image.tobytes() for image in images[labels == label])
        assert loaded == sorted(load_image(root / "seg_train" / name / f"{i}.jpg").tobytes() for i in range(2))


def test_load_split_picks_test_then_val_and_refuses_an_absent_split(tmp_path):
    arrays = _arrays(n=6)
    np.savez(tmp_path / "val_only.npz", val_images=arrays["val_images"], val_labels=arrays["val_labels"])
    images, labels, split = load_split(tmp_path / "val_only.npz")
    assert split == "val" and images.shape == (6, 48, 48, 3) and labels.tolist() == list(range(6))
    with pytest.raises(InputError, match=r"val_only.npz: holds no test split \(present: val\). Received: --split=test"):
        load_split(tmp_path / "val_only.npz", "test")
    full = write_synthetic_npz(tmp_path / "full.npz", num_per_class=1, with_test=True)
    assert load_split(full)[2] == "test" and load_split(full, "train")[2] == "train"
    np.savez(tmp_path / "train_only.npz", train_images=arrays["train_images"], train_labels=arrays["train_labels"])
    with pytest.raises(InputError, match=r"holds no test or val split \(present: train\); pass --split"):
        load_split(tmp_path / "train_only.npz")


def test_load_split_of_a_folder(tmp_path):
    root = _write_folder(tmp_path / "intel", per_class=4)
    images, labels, split = load_split(root)
    assert split == "test" and images.shape == (24, 48, 48, 3) and np.bincount(labels).tolist() == [4] * 6
    val_images, _, _ = load_split(root, "val", seed=3, val_fraction=0.25)
    np.testing.assert_array_equal(val_images, load_folder(root, seed=3, val_fraction=0.25).splits["val"][0])


def _load_tool(name):
    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_tool_writes_a_loadable_npz(tmp_path, capsys):
    tool = _load_tool("intel_folder_to_npz")
    root = _write_folder(tmp_path / "intel", per_class=4)
    output = tmp_path / "intel.npz"
    assert run_main(tool.main, ["--input", str(root), "--output", str(output)]) == 0
    data = load_npz(output)
    assert [len(data.splits[s][1]) for s in ("train", "val", "test")] == [18, 6, 24]
    capsys.readouterr()
    assert run_main(tool.main, ["--input", str(tmp_path / "missing"), "--output", str(output)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing'}: no such directory\n"


def test_synthetic_images_are_deterministic_and_balanced():
    images, labels = generate_images(3, seed=5)
    again, _ = generate_images(3, seed=5)
    np.testing.assert_array_equal(images, again)
    assert images.shape == (18, 48, 48, 3) and np.bincount(labels).tolist() == [3] * 6
    assert not np.array_equal(images, generate_images(3, seed=6)[0])


def test_write_synthetic_npz_makes_a_valid_homework_file(tmp_path):
    path = write_synthetic_npz(tmp_path / "tiny.npz", num_per_class=2, seed=0, with_test=True)
    data = load_npz(path)
    assert {s: len(y) for s, (_, y) in data.splits.items()} == {"train": 12, "val": 12, "test": 12}
    assert set(np.load(path)) == {f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")}


def test_default_data_is_announced_as_synthetic():
    assert "SYNTHETIC" in load_data(None).describe()


def test_pipeline_batches_and_shuffles_with_its_seed():
    images = np.arange(10, dtype="uint8")[:, None, None, None] * np.ones((1, 48, 48, 3), "uint8")
    labels = np.arange(10)

    def order(seed):
        return np.concatenate([y.numpy() for _, y in make_dataset(images, labels, 4, shuffle=True, seed=seed)])

    batches = list(make_dataset(images, labels, 4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2] and batches[0][0].dtype == tf.uint8
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    assert order(3).tolist() == order(3).tolist() and sorted(order(3)) == list(range(10))
    assert order(3).tolist() != list(range(10))
