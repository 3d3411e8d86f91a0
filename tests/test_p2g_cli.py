"""python -m keras_hw2.p2g end to end on tiny data: train -> evaluate -> predict -> export -> clean-process reload."""
import contextlib
import json
import re
import unicodedata

import pytest

from keras_hw2.cli import run_main
from keras_hw2.p2g.__main__ import main

WORDS = ["cat", "cab", "tab", "bat", "act", "tact", "taco", "coat", "boat", "oat", "cot", "bot", "tot", "cob"]
PHONES = {"c": "k", "a": "æ", "t": "t", "b": "b", "o": "oʊ"}  # IPA, like the homework's TSVs
PREDICT = ["k æ t", "b oʊ t", " ".join(["t", "æ"] * 10 + ["zz"])]  # the last: 1 of 21 symbols unknown (<= 5%)

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
    assert result["words"] == 5 and set(result) >= {"cer", "wer", "wer_at_k", "beam_cer", "beam_wer", "beam_wer_at_k"}
    assert result["wer_at_k"] <= 1.0 and result["beam_wer_at_k"] <= result["beam_wer"]
    assert err.startswith("5/5 - ")  # beam search shows progress: 5 words (each decoded 3 ways, counted once)


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
    assert "\tunknown symbols (as <unk>): zz" in lines[2]
    cli_spellings = [line.split("\t")[1] for line in lines]
    code, out, err = _cli(capsys, "export", "--run", run, "--models-dir", tmp_path / "sm")
    assert code == 0 and err == "" and out.splitlines()[0].startswith("devices: CPU:0")
    assert out.splitlines()[1] == f"exported {tmp_path / 'sm' / 'p2g' / '1'}"  # the CNN's shape too
    result = python("-c", RELOAD, str(tmp_path / "sm" / "p2g" / "1"), json.dumps(PREDICT))
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
    code, _, err = _cli(capsys, "train", "--data", root / "data", "--attention", "--units", "8",
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
    assert "are unknown to the checkpoint, e.g. t, æ, k, oʊ, b: is it in another phoneme alphabet?" in err
    assert "The checkpoint's alphabet: AA AE AH AO AW AY B CH D DH EH ER EY F G HH" in err


def test_train_echoes_its_config_and_ends_like_every_task(trained, capsys):
    root, run = trained  # the finished run again: nothing is trained, the same lines are printed
    code, out, _ = _cli(capsys, "train", "--data", root / "data", "--attention", "--units", "8", "--epochs", "1",
                        "--batch-size", "16", "--runs-dir", root / "runs", "--run-name", "tiny")
    lines = out.splitlines()
    assert code == 0 and re.fullmatch(r"model: lstm, 8 units, attention: [\d,]+ parameters", lines[2])
    assert lines[3].startswith(f"run: {run}") and " | TrainConfig(data=" in lines[3]
    results = json.loads((run / "results.json").read_text())
    assert lines[4] == (f"best validation CER {results['val_cer']:.4f} (WER {results['val_wer']:.4f}) at epoch "
                        f"{results['best_epoch']} of 1")
    assert lines[5] == (f"outputs in {run}: history.json, loss.png, val_cer.png, best.keras; "
                        f"tensorboard --logdir {run}") and len(lines) == 6


def test_predict_refuses_a_word_in_another_alphabet(trained, capsys):
    _, run = trained
    code, out, err = _cli(capsys, "predict", "--run", run, "k æ t", "K AE T")
    assert (code, out) == (2, "")
    assert err == ("error: 'K AE T': 3 of 3 phoneme symbols (100.00%) are unknown to the checkpoint, e.g. K, AE, "
                   "T: is it in another phoneme alphabet? The checkpoint's alphabet: b k oʊ t æ\n")


def test_predict_counts_words_once_whatever_the_decodings(trained, capsys):
    _, run = trained
    code, out, err = _cli(capsys, "predict", "--run", run, "k æ t", "b oʊ t", "--top-p", "0.9", "--k", "3",
                          "--beam", "5")
    assert code == 0 and len(out.splitlines()) == 3
    assert re.fullmatch(r"2/2 - \d+s - \S+/word\n", err), err


def test_an_ensemble_of_a_run_with_itself_predicts_as_the_run_and_lists_the_n_best(trained, capsys):
    _, run = trained  # the mean of two equal logits is those logits: the ensemble decodes as the run
    words = ["k æ t", "b oʊ t"]
    code, out, _ = _cli(capsys, "predict", "--run", run, *words, "--beam", "3", "--n-best", "2", "--quiet")
    assert code == 0
    code, printed, _ = _cli(capsys, "predict", "--run", run, "--run", run, *words, "--beam", "3", "--json", "--quiet")
    rows = [json.loads(line) for line in printed.splitlines()]
    assert code == 0 and [row["phonemes"] for row in rows] == words
    for line, row in zip(out.splitlines(), rows):
        scores = [hypothesis["score"] for hypothesis in row["beam"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        two = ", ".join(f"{h['spelling']} ({h['score']:.3f})" for h in row["beam"][:2])
        assert line == f"{row['phonemes']}\t{row['spelling']}\t{row['log_prob']:.3f}\tbeam 2-best: {two}"


def test_n_best_above_the_beam_and_repeated_seeds_are_refused(capsys, tmp_path):
    code, out, err = _cli(capsys, "predict", "--run", "nowhere", "k æ t", "--beam", "2", "--n-best", "3")
    assert (code, out, err) == (2, "", "error: --n-best must be at most --beam (the hypotheses the beam keeps). "
                                       "Received: --n-best=3 with --beam=2\n")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["train", "--seeds", "0,1,0", "--data", str(tmp_path / "none"), "--runs-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("error: python -m keras_hw2.p2g train: --seeds must be distinct; 0 is "
                                       "repeated. Received: --seeds=0,1,0 (see --help)\n")


def test_train_seeds_trains_one_ordinary_run_per_seed(monkeypatch, tmp_path, capsys):
    from keras_hw2.p2g import train
    trained = []

    def fake_train(config, run, data, verbose):
        trained.append((run.path.name, config.seed))
        return {"val_cer": 0.5, "val_wer": 0.75, "best_epoch": 1, "epochs": 1}

    monkeypatch.setattr(train, "train_and_evaluate", fake_train)
    code, out, _ = _cli(capsys, "train", "--data", _write_corpus(tmp_path / "data"), "--seeds", "3,1",
                        "--runs-dir", tmp_path / "runs", "--run-name", "m", "--quiet")
    assert code == 0 and trained == [("m-seed3", 3), ("m-seed1", 1)]
    assert out.count("best validation CER 0.5000 (WER 0.7500) at epoch 1 of 1") == 2


def test_exporting_an_unfinished_run_says_so(trained, capsys, tmp_path):
    _, run = trained
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "best.keras").write_bytes((run / "best.keras").read_bytes())
    (stopped / "config.json").write_text(json.dumps({"epochs": 40}))
    (stopped / "history.json").write_text(json.dumps({"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.0]}))
    code, out, err = _cli(capsys, "export", "--run", stopped, "--models-dir", tmp_path / "sm", "--quiet")
    assert code == 0 and out == f"exported {tmp_path / 'sm' / 'p2g' / '1'}\n"
    assert err == (f"warning: {stopped} is unfinished: it stopped at epoch 3 of 40; its best.keras is the best "
                   "of the epochs it finished\n")


@pytest.mark.parametrize("argv, old, new", [
    (["train", "--data-dir", "D", "--seed", "-1"], "--data-dir", "--data"),
    (["evaluate", "--checkpoint", "R", "--seed", "-1"], "--checkpoint", "--run"),
    (["export", "--run", "R", "--root", "M", "--version", "0"], "--root", "--models-dir"),
    (["test", "--run", "nowhere"], "python -m keras_hw2.p2g test", "python -m keras_hw2.p2g evaluate"),
])
def test_a_deprecated_spelling_says_so_in_one_line(argv, old, new, capsys):
    with pytest.raises(SystemExit) if "test" not in argv else contextlib.nullcontext():
        run_main(main, argv)  # argument errors exit from argparse; `test --run nowhere` returns 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"warning: {old} is deprecated; use {new}"
    assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("error: ")


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


def test_evaluate_writes_its_figures_and_the_misspelt_words_beside_the_run(trained, capsys):
    root, run = trained
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    code, out, _ = _cli(capsys, "evaluate", "--run", run, "--data", root / "data" / "valid.tsv",
                        "--top-p", "0.9", "--k", "2", "--beam", "2", "--quiet")
    assert code == 0
    printed = json.loads(out)  # --quiet: exactly one JSON line, the samples too go to the files
    assert out.count("\n") == 1
    written = json.loads((run / "evaluation-data-valid.json").read_text())
    assert {key: written[key] for key in printed} == printed
    assert written["settings"] == {"top_p": 0.9, "k": 2, "beam": 2, "seed": 0, "batch_size": 1000}
    assert written["data"] == str(root / "data" / "valid.tsv") and written["errors"] == "errors-data-valid.tsv"
    lines = (run / "errors-data-valid.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["phonemes", "reference", "prediction", "cer", "samples", "beam_n_best"]
    rows = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    assert len(rows) == round(printed["wer"] * printed["words"])  # one row per misspelt word
    assert [float(row["cer"]) for row in rows] == sorted((float(row["cer"]) for row in rows), reverse=True)
    valid = dict(line.split("\t") for line in (root / "data" / "valid.tsv").read_text(encoding="utf-8").splitlines())
    for row in rows:
        assert valid[row["phonemes"]] == row["reference"] != row["prediction"]
        assert len(row["samples"].split(", ")) == 2 and len(row["beam_n_best"].split(", ")) == 2
    assert all(before[name] == (run / name).read_bytes() for name in before)  # no training file rewritten


def test_evaluate_names_its_files_by_the_data_and_an_ensemble_apart(trained, capsys):
    _, run = trained
    code, out, _ = _cli(capsys, "evaluate", "--run", run, "--run", run)
    assert code == 0 and out.splitlines()[-1] == (f"wrote {run / 'evaluation-data-test-ensemble-of-2.json'}, "
                                                  f"{run / 'errors-data-test-ensemble-of-2.tsv'}")
    assert json.loads((run / "evaluation-data-test-ensemble-of-2.json").read_text())["runs"] == [str(run)] * 2
    header = (run / "errors-data-test-ensemble-of-2.tsv").read_text().splitlines()[0]
    assert header == "phonemes\treference\tprediction\tcer"  # no samples, no beam asked


def test_predict_reads_phoneme_strings_from_a_file_and_standard_input(trained, capsys, tmp_path, monkeypatch):
    import io
    _, run = trained
    code, expected, _ = _cli(capsys, "predict", "--run", run, "k æ t", "b oʊ t", "t æ k", "--json", "--quiet")
    assert code == 0
    words = tmp_path / "words.txt"
    words.write_bytes("\ufeffb oʊ t\r\n\n  t   æ k \n".encode())  # a BOM, CRLF, a blank line, extra spaces
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("k æ t\n".encode())))
    code, out, _ = _cli(capsys, "predict", "--run", run, "-", "--input", words, "--json", "--quiet")
    assert code == 0 and out == expected


@pytest.mark.parametrize("content, message", [
    (None, "{path}: no such file"),
    (b"k \xe6 t\n", "{path}:1: not UTF-8 (byte 0xe6)"),
    (b"k t\nk \x00t\n", "{path}:2: control character U+0000 at column 3"),
    (b"\n \n", "no phoneme strings to spell: give them as arguments, - (standard input) or --input FILE. "
               "Received: no arguments and --input={path}"),
])
def test_predict_refuses_a_bad_input_file_in_one_line(trained, capsys, tmp_path, content, message):
    _, run = trained
    path = tmp_path / "words.txt"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _cli(capsys, "predict", "--run", run, "--input", path)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: " + message.format(path=path)), err
