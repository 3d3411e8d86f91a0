"""Hostile input, faults and load (issue 27; docs/reliability.md): each test is one probe class that must hold.

A write that finds no room ends in one line and exit status 4, and the run resumes; a path that is a file where
a directory belongs, corrupt run files, TSV byte-order marks and control characters, and symbolic links out of
a data folder are one-line errors with exit status 2; the P2G SavedModel refuses empty, over-long and oversized
requests with ``InvalidArgument`` and answers concurrent callers exactly as serial ones.
"""
import json
import subprocess
import sys
import os

import pytest

from conftest import REPO, limit_file_size


def _cli(*args, preexec_fn=None, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, seed=0)


def _cnn_train(npz, runs_dir, *extra):
    return ["-m", "keras_hw2.cnn", "train", "--data", str(npz), "--epochs", "2", "--batch-size", "8",
            "--seed", "0", "--runs-dir", str(runs_dir), "--run-name", "r", "--quiet", *extra]


def test_a_file_size_limit_while_checkpointing_is_one_line_exit_4_and_the_run_resumes(tiny_npz, tmp_path):
    limited = _cli(*_cnn_train(tiny_npz, tmp_path), preexec_fn=limit_file_size(1_000_000))  # < a checkpoint
    assert limited.returncode == 4, limited.stderr[-3000:]
    assert "Traceback" not in limited.stderr
    last = limited.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {tmp_path / 'cnn' / 'r'}") and "File too large" in last, last
    assert "re-run the same command" in last
    run_dir = tmp_path / "cnn" / "r"
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2  # nothing finished was lost
    again = _cli(*_cnn_train(tiny_npz, tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "finished" and results["epochs"] == 2
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [0, 1]


def test_export_into_a_models_dir_that_is_a_file_is_one_line_exit_2(exports, tmp_path, capsys):
    from keras_hw2.cli import run_main
    from keras_hw2.cnn.__main__ import main

    (tmp_path / "run").mkdir()
    exports["cnn_model"].save(tmp_path / "run" / "best.keras")
    models_dir = tmp_path / "a_file"
    models_dir.write_text("not a directory\n")
    for root in (models_dir, models_dir / "below"):
        assert run_main(main, ["export", "--run", str(tmp_path / "run"), "--models-dir", str(root)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: --models-dir must be a directory (or a path to create one); {models_dir} is a "
                       f"file. Received: --models-dir={root}"), err
    assert models_dir.read_text() == "not a directory\n"


@pytest.fixture(scope="module")
def p2g_export(exports):
    """The exported P2G SavedModel, loaded, and its alphabets."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's ops)

    from serving_standins import SOURCE, TARGET

    return {"loaded": tf.saved_model.load(str(exports["p2g"])), "source": SOURCE, "target": TARGET}


def _refusal(signature, phonemes, **args):
    """The one ``assertion failed: [...] [...]`` line of the InvalidArgument `signature` answers."""
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        signature(phonemes=tf.constant(phonemes), **args)
    return next(line for line in caught.value.message.splitlines() if line.startswith("assertion failed"))


@pytest.mark.parametrize("bad", ["", "   ", "\u3000\t", b"\xff\xfek", b"k \xc3"])
def test_the_p2g_export_refuses_empty_blank_and_non_utf8_strings_naming_their_index(p2g_export, bad):
    import tensorflow as tf

    signatures = p2g_export["loaded"].signatures
    what = "UTF-8" if isinstance(bad, bytes) else "empty or whitespace-only"
    for name, args in [("serving_default", {}), ("beam_search", {"num_beams": tf.constant(2),
                                                                 "length_penalty": tf.constant(1.0)}),
                       ("nucleus", {"p": tf.constant(0.9), "num_samples": tf.constant(2),
                                    "seed": tf.constant(0, tf.int64)})]:
        line = _refusal(signatures[name], [b"k", b"t", bad if isinstance(bad, bytes) else bad.encode()], **args)
        assert what in line and line.endswith("[2]"), (name, line)


def test_the_p2g_export_refuses_oversized_batches_and_strings(p2g_export):
    from keras_hw2.p2g.speller import MAX_PHONEME_BYTES, MAX_REQUEST_WORDS

    greedy = p2g_export["loaded"].signatures["serving_default"]
    line = _refusal(greedy, ["k"] * (MAX_REQUEST_WORDS + 1))
    assert f"at most {MAX_REQUEST_WORDS} phoneme strings" in line and line.endswith(f"[{MAX_REQUEST_WORDS + 1}]")
    longest = " ".join(["k"] * (MAX_PHONEME_BYTES // 2))  # MAX_PHONEME_BYTES - 1 bytes: accepted
    assert greedy(phonemes=["t", longest])["spellings"].shape == (2,)
    line = _refusal(greedy, ["t", "t", longest + " kk"])
    assert f"at most {MAX_PHONEME_BYTES} UTF-8 bytes" in line and line.endswith("[2]")
    assert greedy(phonemes=["k"] * MAX_REQUEST_WORDS)["spellings"].shape == (MAX_REQUEST_WORDS,)


def _words(source, count, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(source[4:], size=rng.integers(1, 8))) for _ in range(count)]


def _concurrent_equals_serial(greedy, words, threads=8, batch=10):
    from concurrent.futures import ThreadPoolExecutor

    batches = [words[i:i + batch] for i in range(0, len(words), batch)]
    decode = lambda b: [s.decode() for s in greedy(phonemes=b)["spellings"].numpy()]  # noqa: E731
    serial = [decode(b) for b in batches]
    with ThreadPoolExecutor(threads) as pool:
        concurrent = list(pool.map(decode, batches))
    assert concurrent == serial


def test_concurrent_calls_of_the_p2g_export_give_the_serial_results(p2g_export):
    _concurrent_equals_serial(p2g_export["loaded"].signatures["serving_default"],
                              _words(p2g_export["source"], 8 * 200, seed=0))


@pytest.mark.slow
def test_ten_thousand_concurrent_words_give_the_serial_results(p2g_export):
    _concurrent_equals_serial(p2g_export["loaded"].signatures["serving_default"],
                              _words(p2g_export["source"], 10_000, seed=1), batch=50)


def test_the_serving_client_refuses_empty_strings_before_sending():
    import tensorflow as tf

    from keras_hw2.errors import InputError
    from keras_hw2.serving.inputs import string_array

    spec = tf.TensorSpec([None], tf.string, name="phonemes")
    for strings in (["k æ t", ""], ["k", " \t"]):
        with pytest.raises(InputError, match=r"^--strings: string 2 is empty or whitespace only"):
            string_array(strings, spec)
    assert string_array(["k æ t"], spec).tolist() == ["k æ t".encode()]


def test_tsv_reading_drops_a_byte_order_mark_and_refuses_control_characters(tmp_path):
    from keras_hw2.errors import InputError
    from keras_hw2.p2g.data import build_vocabularies, read_tsv

    path = tmp_path / "bom.tsv"
    path.write_bytes("\ufeffk æ t\tcat\r\nt\tt\n".encode())
    pairs = read_tsv(path)
    assert [(p.phonemes, p.spelling) for p in pairs] == [("k æ t", "cat"), ("t", "t")]
    assert "k" in build_vocabularies(pairs)[0].tokens and not any("\ufeff" in t for t in build_vocabularies(pairs)[0].tokens)
    for bad, column in [("k\x00 t\tkt", 2), ("k t\tk\x07t", 6), ("k\x0bt\tkt", 2), ("k t\tk\u2028t", 6),
                        ("k t\x85\tkt", 4), ("k t\t\ufeff", 5)]:
        path.write_text(f"t\tt\n{bad}\n", encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read_tsv(path)
        assert str(caught.value).startswith(f"{path}:2: control character U+{ord(bad[column - 1]):04X} "
                                            f"at column {column}"), str(caught.value)


def test_a_corrupt_run_file_is_named_in_one_line_exit_2_not_retrained(tiny_npz, tmp_path, capsys):
    import shutil

    from keras_hw2.cli import run_main
    from keras_hw2.cnn.__main__ import main

    args = ["train", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "8", "--runs-dir", str(tmp_path),
            "--run-name", "done", "--quiet"]
    assert run_main(main, args) == 0
    run_dir = tmp_path / "cnn" / "done"
    capsys.readouterr()
    pristine = tmp_path / "pristine"
    shutil.copytree(run_dir, pristine, ignore=shutil.ignore_patterns(".lock"))
    for name, corrupt in [("history.json", b'{"epoch": [0'), ("results.json", b"\xff\xfe"),
                          ("config.json", b"{,}"), ("history.json", b"[1, 2]")]:
        shutil.rmtree(run_dir)
        shutil.copytree(pristine, run_dir)
        (run_dir / name).write_bytes(corrupt)
        assert run_main(main, args) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {run_dir / name}: not ") and "\n" not in err, err
        assert (run_dir / name).read_bytes() == corrupt  # left for the user to look at


def _png(path, value):
    import numpy as np
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(np.full((8, 8, 3), value, np.uint8)))


def test_images_linked_from_outside_a_data_folder_are_not_followed_unless_asked(tmp_path, capsys):
    from keras_hw2.cli import run_main
    from keras_hw2.cnn.data import CLASS_NAMES, load_folder
    from keras_hw2.errors import InputError
    from tools.intel_folder_to_npz import main

    folder = tmp_path / "intel"
    for label, name in enumerate(CLASS_NAMES):
        for i in range(2):
            _png(folder / "seg_train" / name / f"{i}.png", 40 * label + i)
    _png(tmp_path / "secret" / "outside.png", 255)
    link = folder / "seg_train" / "sea" / "2.png"
    link.symlink_to(tmp_path / "secret" / "outside.png")
    (folder / "seg_train" / "sea" / "3.png").symlink_to(folder / "seg_train" / "sea" / "0.png")  # inside: read
    with pytest.raises(InputError) as caught:
        load_folder(folder)
    assert str(caught.value).startswith(f"{link}: a symbolic link to {tmp_path / 'secret' / 'outside.png'}, "
                                        f"outside the data folder {folder}")
    assert str(caught.value).endswith("pass --follow-links to read it")
    train, val = (load_folder(folder, follow_links=True).splits[s] for s in ("train", "val"))
    assert len(train[1]) + len(val[1]) == 14
    output = tmp_path / "out.npz"
    assert run_main(main, ["--input", str(folder), "--output", str(output)]) == 2
    assert "--follow-links" in capsys.readouterr().err and not output.exists()
    assert run_main(main, ["--input", str(folder), "--output", str(output), "--follow-links"]) == 0
    assert output.exists()
