"""python -m keras_hw2.p2g end to end on tiny data: train -> evaluate -> predict -> export -> clean-process reload."""
import json
import unicodedata

import pytest

from keras_hw2.cli import run_main
from keras_hw2.p2g.__main__ import main

WORDS = ["cat", "cab", "tab", "bat", "act", "tact", "taco", "coat", "boat", "oat", "cot", "bot", "tot", "cob"]
PHONES = {"c": "k", "a": "æ", "t": "t", "b": "b", "o": "oʊ"}  # IPA, like the homework's TSVs
PREDICT = ["k æ t", "b oʊ t", "t͡ʃ æ zz"]  # the last holds symbols never seen in training

RELOAD = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the NFC and tokenizer ops the export uses)
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](phonemes=tf.constant(json.loads(sys.argv[2])))
samples = model.signatures["nucleus"](phonemes=tf.constant(["k æ t"]), p=tf.constant(0.9),
                                      num_samples=tf.constant(3), seed=tf.constant(7, tf.int64))
print(json.dumps({"spellings": [s.decode() for s in out["spellings"].numpy()],
                  "shape": samples["spellings"].shape.as_list(),
                  "keras_hw2_imported": any(m.startswith("keras_hw2") for m in sys.modules)}))
"""


def _line(word):
    return f"{' '.join(PHONES[ch] for ch in word)}\t{word}"


def _write_corpus(directory, extra=""):
    directory.mkdir(exist_ok=True)
    lines = [_line(w) for w in WORDS]
    (directory / "train.tsv").write_text("\n".join(lines * 3) + extra + "\n", encoding="utf-8")
    (directory / "valid.tsv").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    (directory / "test.tsv").write_text("\n".join(lines[5:9]) + "\n", encoding="utf-8")
    return directory


def _cli(capsys, *argv):
    code = run_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2g")
    data = _write_corpus(root / "data")
    argv = ["train", "--data", str(data), "--attention", "--units", "8", "--epochs", "1", "--batch-size", "16",
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


def test_evaluate_defaults_to_the_test_split_of_the_runs_corpus(trained, capsys):
    root, run = trained
    code, out, err = _cli(capsys, "evaluate", "--run", run)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[1] == f"data: {root / 'data' / 'test.tsv'}"
    assert json.loads(lines[2])["words"] == 4


def test_evaluate_reports_cer_wer_wer_at_k_and_beam(trained, capsys):
    root, run = trained
    code, out, err = _cli(capsys, "evaluate", "--run", run, "--data", root / "data" / "valid.tsv",
                          "--top-p", "0.9", "--k", "2", "--beam", "2")
    assert code == 0
    result = json.loads(out.splitlines()[2])
    assert result["words"] == 5 and set(result) >= {"cer", "wer", "wer_at_k", "beam_cer", "beam_wer"}
    assert result["wer_at_k"] <= 1.0
    assert err.startswith("15/15 - ")  # beam search shows progress: 3 decoding passes over 5 words


def test_evaluate_warns_about_a_few_unknown_symbols(trained, capsys, tmp_path):
    _, run = trained
    (tmp_path / "few.tsv").write_text("\n".join([_line("tact")] * 6 + ["k æ zz\tcaz"]) + "\n", encoding="utf-8")
    code, out, err = _cli(capsys, "evaluate", "--run", run, "--data", tmp_path / "few.tsv", "--quiet")
    assert code == 0 and json.loads(out)["words"] == 7  # --quiet: the result line alone
    assert err == (f"warning: {tmp_path / 'few.tsv'}: 1 of 27 phoneme symbols (3.70%) are unknown to the "
                   "checkpoint and read as <unk>: zz\n")


def test_export_reloads_in_a_clean_process_with_the_clis_greedy_output(trained, capsys, python, tmp_path):
    _, run = trained
    # predict in a clean process with TF_CPP_MIN_LOG_LEVEL empty (= unset): no TensorFlow log line at all,
    # not even oneDNN's notice about int64 kernels that the model's ops trigger on this CPU
    result = python("-m", "keras_hw2.p2g", "predict", "--run", str(run), *PREDICT, "--attention-png",
                    str(tmp_path / "att.png"), env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.returncode == 0 and result.stderr == "", result.stderr[-3000:]
    assert (tmp_path / "att.png").is_file()
    lines = result.stdout.splitlines()[1:4]
    assert "unknown symbols (as <unk>): t͡ʃ zz" in lines[2]
    cli_spellings = [line.split("\t")[1] for line in lines]
    code, out, _ = _cli(capsys, "export", "--run", run, "--models-dir", tmp_path / "sm")
    assert code == 0 and out.strip().endswith("sm/p2g/1")
    result = python("-c", RELOAD, out.strip(), json.dumps(PREDICT))
    assert result.returncode == 0, result.stderr[-2000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert reloaded == {"spellings": cli_spellings, "shape": [1, 3], "keras_hw2_imported": False}


def test_predict_accepts_nfd_input_and_inputs_longer_than_the_maximum_length(trained, capsys):
    _, run = trained
    long_input = " ".join(["k", "æ"] * 40)
    code, out, err = _cli(capsys, "predict", "--run", run, unicodedata.normalize("NFD", "k æ t"), long_input)
    assert code == 0 and len(out.splitlines()) == 3
    assert "longer than 50 phonemes" in err


def test_resuming_with_a_changed_vocabulary_is_refused_before_training(trained, capsys):
    root, run = trained
    _write_corpus(root / "data", extra="\nz æ\tzap")
    code, _, err = _cli(capsys, "train", "--data-dir", root / "data", "--attention", "--units", "8",
                        "--epochs", "1", "--batch-size", "16", "--runs-dir", root / "runs", "--run-name", "tiny")
    _write_corpus(root / "data")
    assert code == 2 and "vocabulary differs" in err and err.count("\n") == 1


def test_an_arpabet_run_is_evaluated_on_the_cmudict_test_split(tmp_path, capsys):
    """A run trained on the embedded corpus (config data None) is scored on its test split, in ARPAbet."""
    from keras_hw2.p2g import cmudict_corpus
    from keras_hw2.p2g.data import build_vocabularies
    from keras_hw2.p2g.models import Seq2Seq

    source, target = build_vocabularies(cmudict_corpus.load_cmudict_corpus()["train"])
    model = Seq2Seq(source.tokens, target.tokens, units=4)
    model.build(((None, None), (None, None)))
    run = tmp_path / "runs" / "p2g" / "arpabet"
    run.mkdir(parents=True)
    model.save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({"data_dir": None, "units": 4}))
    code, out, err = _cli(capsys, "evaluate", "--run", run)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "data: embedded cmudict corpus, test split (993 words, ARPAbet)"
    assert json.loads(lines[2])["words"] == 993
    assert err.startswith("993/993 - ")  # more than 100 words: a progress bar (one line when not a terminal)
    # IPA words given to this ARPAbet run: refused, naming the unknown symbols and the run's alphabet
    code, _, err = _cli(capsys, "evaluate", "--run", run, "--data", _write_corpus(tmp_path / "ipa") / "test.tsv")
    assert code == 2 and err.count("\n") == 1
    assert "are unknown to the checkpoint, e.g. t, æ, k, oʊ, b: is the data in another phoneme alphabet?" in err
    assert "The checkpoint's alphabet: AA AE AH AO AW AY B CH D DH EH ER EY F G HH" in err


@pytest.mark.slow
def test_train_continues_a_finished_run_to_more_epochs_bit_for_bit(tmp_path, capsys):
    import keras
    import numpy as np

    data = _write_corpus(tmp_path / "data")
    common = ["train", "--data", data, "--units", "8", "--batch-size", "16", "--runs-dir", tmp_path / "runs",
              "--seed", "3"]
    assert _cli(capsys, *common, "--epochs", "3", "--run-name", "three")[0] == 0
    assert _cli(capsys, *common, "--epochs", "2", "--run-name", "grown")[0] == 0
    code, out, _ = _cli(capsys, *common, "--epochs", "3", "--run-name", "grown")
    assert code == 0 and "(continued: from its 2 finished epochs to 3)" in out
    runs = [tmp_path / "runs" / "p2g" / name for name in ("three", "grown")]
    histories = [json.loads((run / "history.json").read_text()) for run in runs]
    for history in histories:
        del history["epoch_seconds"]
    assert histories[0] == histories[1] and len(histories[0]["epoch"]) == 3
    for a, b in zip(*(keras.saving.load_model(run / "best.keras").get_weights() for run in runs)):
        np.testing.assert_array_equal(a, b)


def test_train_records_the_opt_in_options_and_logs_the_scheduled_learning_rate(trained, tmp_path, capsys):
    assert "lr_schedule" not in json.loads((trained[1] / "config.json").read_text())  # left out at its default
    data = _write_corpus(tmp_path / "data")
    common = ["train", "--data", data, "--units", "8", "--batch-size", "16", "--runs-dir", tmp_path / "runs"]
    code, out, _ = _cli(capsys, *common, "--epochs", "2", "--run-name", "scheduled", "--lr-schedule", "cosine",
                        "--warmup-epochs", "1", "--early-stopping", "1")
    config = json.loads((tmp_path / "runs" / "p2g" / "scheduled" / "config.json").read_text())
    assert code == 0 and (config["lr_schedule"], config["warmup_epochs"], config["early_stopping"]) == ("cosine", 1, 1)
    history = json.loads((tmp_path / "runs" / "p2g" / "scheduled" / "history.json").read_text())
    # 42 training words in batches of 16: 3 steps per epoch; the rate logged is the next step's
    assert history["learning_rate"] == [pytest.approx(0.003), pytest.approx(0.0, abs=1e-9)]
