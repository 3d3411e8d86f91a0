"""End to end on tiny data: train -> test -> predict -> export -> reload in a clean process; bad input."""
import json
import unicodedata

import pytest

from keras_hw2.cli import run_main
from keras_hw2.p2g.__main__ import main

WORDS = ["cat", "cab", "tab", "bat", "act", "tact", "taco", "coat", "boat", "oat", "cot", "bot", "tot", "cob"]
PHONES = {"c": "k", "a": "æ", "t": "t", "b": "b", "o": "oʊ"}
PREDICT = ["k æ t", "b oʊ t", "t͡ʃ æ zz"]  # the last holds symbols never seen in training

RELOAD = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](phonemes=tf.constant(json.loads(sys.argv[2])))
samples = model.signatures["nucleus"](phonemes=tf.constant(["k æ t"]), p=tf.constant(0.9),
                                      num_samples=tf.constant(3), seed=tf.constant(7, tf.int64))
print(json.dumps({"spellings": [s.decode() for s in out["spellings"].numpy()],
                  "shape": samples["spellings"].shape.as_list(),
                  "keras_hw2_imported": any(m.startswith("keras_hw2") for m in sys.modules)}))
"""


def _write_corpus(directory, extra=""):
    directory.mkdir(exist_ok=True)
    lines = [f"{' '.join(PHONES[ch] for ch in w)}\t{w}" for w in WORDS]
    (directory / "train.tsv").write_text("\n".join(lines * 3) + extra + "\n", encoding="utf-8")
    (directory / "valid.tsv").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    return directory


def _cli(capsys, *argv):
    code = run_main(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2g")
    data = _write_corpus(root / "data")
    argv = ["train", "--data-dir", str(data), "--attention", "--units", "8", "--epochs", "1", "--batch-size", "16",
            "--runs-dir", str(root / "runs"), "--run-name", "tiny"]
    assert run_main(main, argv) == 0
    return root, root / "runs" / "p2g" / "tiny"


def test_train_writes_checkpoint_history_plot_and_tensorboard_logs(trained):
    _, run = trained
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [0] and 0 <= history["val_cer"][0] and "loss" in history
    for name in ["best.keras", "val_cer.png", "config.json", "vocabulary.json"]:
        assert (run / name).is_file(), name
    assert list((run / "train").glob("events.out.tfevents.*"))


def test_test_reports_cer_wer_and_wer_at_k(trained, capsys):
    root, run = trained
    code, out, _ = _cli(capsys, "test", "--checkpoint", str(run), "--data", str(root / "data" / "valid.tsv"),
                        "--top-p", "0.9", "--k", "2", "--beam", "2")
    assert code == 0
    result = json.loads(out.splitlines()[1])
    assert result["words"] == 5 and set(result) >= {"cer", "wer", "wer_at_k", "beam_cer", "beam_wer"}
    assert result["wer_at_k"] <= 1.0


def test_export_reloads_in_a_clean_process_with_the_clis_greedy_output(trained, capsys, python, tmp_path):
    _, run = trained
    code, out, _ = _cli(capsys, "predict", "--checkpoint", str(run), *PREDICT, "--attention-png",
                        str(tmp_path / "att.png"))
    assert code == 0 and (tmp_path / "att.png").is_file()
    lines = out.splitlines()[1:4]
    assert "unknown symbols (as <unk>): t͡ʃ zz" in lines[2]
    cli_spellings = [line.split("\t")[1] for line in lines]
    code, out, _ = _cli(capsys, "export", "--checkpoint", str(run), "--models-dir", str(tmp_path / "sm"))
    assert code == 0 and out.strip().endswith("sm/p2g/1")
    result = python("-c", RELOAD, out.strip(), json.dumps(PREDICT))
    assert result.returncode == 0, result.stderr[-2000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert reloaded == {"spellings": cli_spellings, "shape": [1, 3], "keras_hw2_imported": False}


def test_predict_accepts_nfd_input_and_inputs_longer_than_the_maximum_length(trained, capsys):
    _, run = trained
    long_input = " ".join(["k", "æ"] * 40)
    code, out, err = _cli(capsys, "predict", "--checkpoint", str(run), unicodedata.normalize("NFD", "k æ t"),
                          long_input)
    assert code == 0 and len(out.splitlines()) == 3
    assert "longer than 50 phonemes" in err


def test_resuming_with_a_changed_vocabulary_is_refused_before_training(trained, capsys):
    root, run = trained
    _write_corpus(root / "data", extra="\nz æ\tzap")
    code, _, err = _cli(capsys, "train", "--data-dir", str(root / "data"), "--attention", "--units", "8",
                        "--epochs", "1", "--batch-size", "16", "--runs-dir", str(root / "runs"), "--run-name", "tiny")
    _write_corpus(root / "data")
    assert code == 2 and "vocabulary differs" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["test", "--checkpoint", "nowhere/best.keras"], "nowhere/best.keras: no such checkpoint"),
    (["predict", "--checkpoint", "CKPT", "k æ", "--top-p", "1.5"], "--top-p must be in"),
    (["predict", "--checkpoint", "CKPT", "  "], "empty phoneme string"),
    (["train", "--data-dir", "nowhere", "--runs-dir", "RUNS"], "nowhere/train.tsv: no such file"),
    (["test", "--checkpoint", "CKPT", "--data", "BAD"], "bad.tsv:2: no tab"),
])
def test_bad_input_is_one_line_and_exit_status_two(trained, capsys, tmp_path, argv, message):
    _, run = trained
    (tmp_path / "bad.tsv").write_text("k\tc\nk c\n", encoding="utf-8")
    replace = {"CKPT": str(run / "best.keras"), "BAD": str(tmp_path / "bad.tsv"), "RUNS": str(tmp_path / "runs")}
    code, _, err = _cli(capsys, *[replace.get(a, a) for a in argv])
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_file_that_is_not_a_checkpoint_is_refused(capsys, tmp_path):
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    code, _, err = _cli(capsys, "export", "--checkpoint", str(tmp_path / "x.keras"),
                        "--models-dir", str(tmp_path / "sm"))
    assert code == 2 and "not a loadable p2g checkpoint" in err
    assert not any((tmp_path / "sm").glob("p2g/*"))
