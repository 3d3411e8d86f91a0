"""Crash consistency, measured: commands SIGKILLed at seeded random moments end as if never interrupted.

Each test runs a command once uninterrupted (the reference, which also sizes the span the kills are drawn
from), then runs it again into other directories through `kill_harness.killed_until_done`: killed again and
again, at random moments and during its writes (checkpoints, ``best.keras``, ``history.json``, JSON results,
plots), each kill followed by a check that every file left parses, then re-run to the end. The final files
must equal the reference's bit for bit on CPU: the history, every variable of ``best.keras``, the results.
A few kills run in the default suite; under ``slow``, 20 per training task, and the learning-rate search and
the report step. The figures of each test are printed (``pytest -s``) and recorded in docs/reliability.md.
"""
import json
import os
from pathlib import Path

import pytest

import kill_harness
from kill_harness import assert_same_weights, history

WORDS = ["cat", "cab", "tab", "bat", "act", "tact", "taco", "coat", "boat", "oat", "cot", "bot", "tot", "cob"]
PHONES = {"c": "k", "a": "æ", "t": "t", "b": "b", "o": "oʊ"}


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from keras_hw2.cnn.data import write_synthetic_npz

    return write_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", num_per_class=4, seed=0)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("p2g")
    lines = [f"{' '.join(PHONES[ch] for ch in word)}\t{word}" for word in WORDS]
    (directory / "train.tsv").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    (directory / "valid.tsv").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    return directory


def _killed(args_of, tmp_path, kills, seed, started=lambda out: "run: " in out):
    """The reference run of ``args_of(tmp_path / "whole")``, then `kills` kills of ``args_of`` in rounds
    under ``tmp_path / "killed"`` (`kill_harness.killed_until_done`). Returns (reference root, Kills)."""
    whole = tmp_path / "whole"
    span = kill_harness.uninterrupted(args_of(whole), started)
    record = kill_harness.killed_until_done(args_of, kills, seed=seed, root=tmp_path / "killed", started=started,
                                            window_s=0.7 * span)  # a later start may run faster: fewer misses
    print(f"{record.line()}; the uninterrupted run took {span:.1f} s")
    return whole, record


def _assert_same_run(reference, run):
    """Two run directories of one configuration hold the same history, best.keras and results."""
    assert history(run) == history(reference)
    assert_same_weights(run / "best.keras", reference / "best.keras")
    results = [json.loads((r / "results.json").read_text()) for r in (run, reference)]
    for r in results:
        r.pop("checkpoint", None)  # the path of best.keras, in each run's own directory
    assert results[0] == results[1]
    assert not [p for p in run.rglob("*") if kill_harness.is_temporary(p.relative_to(run))
                and "resume" not in p.parts]  # stale temporaries: a resumed run cleans up after a killed one


def _cnn_args(npz):
    return lambda root: ["-m", "keras_hw2.cnn", "train", "--data", str(npz), "--epochs", "2", "--batch-size", "8",
                         "--learning-rate", "0.01", "--seed", "0", "--runs-dir", str(root), "--run-name", "k"]


@pytest.mark.parametrize("kills", [1, pytest.param(20, marks=pytest.mark.slow)])
def test_cnn_training_killed_at_random_moments_ends_bit_for_bit_as_an_uninterrupted_run(tiny_npz, tmp_path, kills):
    whole, record = _killed(_cnn_args(tiny_npz), tmp_path, kills, seed=kills)
    for root in record.roots:
        _assert_same_run(whole / "cnn" / "k", root / "cnn" / "k")
    assert history(whole / "cnn" / "k")["epoch"] == [0, 1]


def _p2g_args(corpus):
    return lambda root: ["-m", "keras_hw2.p2g", "train", "--data", str(corpus), "--units", "8", "--epochs", "3",
                         "--batch-size", "8", "--seed", "0", "--runs-dir", str(root), "--run-name", "k"]


@pytest.mark.parametrize("kills", [1, pytest.param(20, marks=pytest.mark.slow)])
def test_p2g_training_killed_at_random_moments_ends_bit_for_bit_as_an_uninterrupted_run(tiny_corpus, tmp_path,
                                                                                         kills):
    whole, record = _killed(_p2g_args(tiny_corpus), tmp_path, kills, seed=100 + kills)
    reference = whole / "p2g" / "k"
    for root in record.roots:
        _assert_same_run(reference, root / "p2g" / "k")
        assert (root / "p2g" / "k" / "vocabulary.json").read_text() == (reference / "vocabulary.json").read_text()
    assert history(reference)["epoch"] == [0, 1, 2]


def _search_args(npz):
    return lambda root: ["-m", "tuners.cnn_lr", "--data", str(npz), "--epochs", "2", "--batch-size", "8",
                         "--learning-rates", "0.1,0.01", "--seed", "0", "--directory", str(root / "tuner"),
                         "--project-name", "lr", "--runs-dir", str(root / "runs")]


def _best_lr(root) -> dict:
    """best_lr.json of the search under `root`, its runs' paths relative to `root`."""
    summary = json.loads((root / "tuner" / "lr" / "best_lr.json").read_text())
    for entry in [summary, *summary["trials"]]:
        entry["run"] = str(Path(entry["run"]).relative_to(root))
    return summary


@pytest.mark.slow
def test_a_learning_rate_search_killed_at_random_moments_ends_as_an_uninterrupted_one(tiny_npz, tmp_path):
    whole, record = _killed(_search_args(tiny_npz), tmp_path, kills=6, seed=7)
    for root in record.roots:
        summary = _best_lr(root)
        assert summary == _best_lr(whole)
        assert [trial["status"] for trial in summary["trials"]] == ["COMPLETED"] * 2
        for trial in ("trial-1", "trial-2"):  # each trial's run bit for bit as the uninterrupted search's
            _assert_same_run(whole / "runs" / "tuner" / "lr" / trial, root / "runs" / "tuner" / "lr" / trial)


def _report_args(root):
    return ["-m", "keras_hw2", "report", "--preset", "quick", "--only", "q1", "--out", str(root / "report"),
            "--runs-dir", str(root / "runs")]


def _report_tables(root) -> dict:
    """report.json of the report under `root` without what differs between two equal reports: times, which steps
    were reused, and `root` itself in the paths the tables name (absolute, or relative to the working directory as
    the report writes paths outside it)."""
    text = (root / "report" / "report.json").read_text()
    report = json.loads(text.replace(str(root), "<root>").replace(os.path.relpath(root), "<root>"))
    steps = {step["key"]: step["result"] for step in report["steps"]}
    tables = {section["title"]: section["tables"] for section in report["sections"] if section["key"] != "steps"}
    return {"steps": steps, "tables": tables, "status": report["status"]}


@pytest.mark.parametrize("kills", [1, pytest.param(6, marks=pytest.mark.slow)])
def test_a_report_killed_at_random_moments_ends_as_an_uninterrupted_one(tmp_path, kills):
    whole, record = _killed(_report_args, tmp_path, kills, seed=kills, started=lambda out: "devices: " in out)
    for root in record.roots:
        assert _report_tables(root) == _report_tables(whole)
        assert sorted(p.name for p in (root / "report" / "figures").iterdir()) == sorted(
            p.name for p in (whole / "report" / "figures").iterdir())
        assert not list((root / "report").glob(".tmp*"))


def test_a_run_killed_while_writing_its_config_json_is_started_afresh(tmp_path):
    """What the kill harness found (a report step killed 0.3 s in): a run directory holding only its lock and
    the temporary of its first config.json is a run that has not begun, not "something that is not a run"."""
    from keras_hw2.runs import open_run

    path = tmp_path / "task" / "r"
    path.mkdir(parents=True)
    (path / ".config.json.tmp").write_text('{"epochs": ')  # cut short by the kill
    with open_run("task", {"epochs": 2}, name="r", root=tmp_path) as run:
        assert not run.resumed and json.loads((path / "config.json").read_text()) == {"epochs": 2}
