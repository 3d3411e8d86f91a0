"""What each step of the report computes, through the tasks' own library functions.

Each function takes the step's open run directory (`keras_hw2.runs.Run`) and
returns a JSON-ready result (`keras_hw2.report.steps`):

- Question 1: `keras_hw2.hopfield.check.write_check`, `hopfield_retrieval`
  (`keras_hw2.hopfield.demo.run_retrieval_demo`) and `hopfield_capacity`
  (`keras_hw2.hopfield.capacity.write_capacity_run`);
- Question 2: `cnn_lr_search` (`tuners.lr_grid.search_learning_rate`, keras-tuner;
  each trial a run ``runs/tuner/<project>/trial-<n>``) and `cnn_train`
  (`keras_hw2.cnn.train.train_and_evaluate` into ``runs/cnn/report-<model>-<digest>``,
  which resumes and is reused like any run; or the tuner's best trial, when it
  is that very run: the baseline is not trained twice);
- Question 3: `p2g_train` (`keras_hw2.p2g.train.train_and_evaluate` into
  ``runs/p2g/report-<name>-<digest>``) and `p2g_evaluate` (greedy and beam
  search with `keras_hw2.p2g.evaluate.evaluate`, nucleus samples with
  `keras_hw2.p2g.speller.Speller.decode` scored by `keras_hw2.p2g.metrics`, and an
  attention heatmap with `keras_hw2.p2g.predict.write_attention_png`).
"""
import contextlib
from pathlib import Path

from keras_hw2.cnn import train as cnn_train_module
from keras_hw2.cnn.models import MODELS, build_model, count_trainable_params
from keras_hw2.hopfield.capacity import CapacityConfig, write_capacity_run
from keras_hw2.hopfield.demo import RetrieveConfig, load_patterns, run_retrieval_demo
from keras_hw2.p2g import metrics
from keras_hw2.p2g import train as p2g_train_module
from keras_hw2.p2g.evaluate import evaluate
from keras_hw2.p2g.predict import write_attention_png
from keras_hw2.p2g.speller import Speller, load_checkpoint
from keras_hw2.report.inputs import digest
from keras_hw2.report.presets import NUM_BEAMS, NUM_SAMPLES, TOP_P
from keras_hw2.runs import CONFIG_FILE, HISTORY_FILE, config_dict, open_run, read_json
from tuners.lr_grid import SweepConfig, search_learning_rate

SEARCH_LOG = "search.log"  # keras-tuner's own output, when it is not shown
ATTENTION_PNG = "attention.png"


def hopfield_capacity(run, config: CapacityConfig, verbose=0) -> dict:
    """Retrieval accuracy of random +-1 patterns against their number, per D, beta and map, into the step's
    directory (``capacity.json``, ``accuracy.png``, ``capacity.png``)."""
    return {"report": write_capacity_run(config, run, verbose=verbose)}


def hopfield_retrieval(run, config: RetrieveConfig, verbose=0) -> dict:
    """The retrieval demo into the step's directory: accuracy per corruption, level and beta, and its PNGs
    (``energy.png``, ``accuracy.png``)."""
    return {"report": run_retrieval_demo(config, load_patterns(config), run, verbose=verbose)}


def cnn_lr_search(run, sweep: SweepConfig, images, verbose=0) -> dict:
    """The keras-tuner grid search over the learning rates (resumes a partial search).

    Its output (keras-tuner's lines and the trials' progress) goes to ``search.log`` in the step's
    directory unless `verbose`.

    Returns:
        ``{"summary"}`` (`tuners.lr_grid.search_learning_rate`'s), ``"histories"``:
        ``[{"learning_rate", "history": per-epoch logs}]`` of every trial in the order they ran,
        ``"project_dir"`` and ``"trained_epochs"``.
    """
    before = _trial_epochs(sweep)
    if verbose:
        summary = search_learning_rate(sweep, images, verbose)
    else:
        with open(run.file(SEARCH_LOG), "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            summary = search_learning_rate(sweep, images, verbose=2)
    trained = sum(_trial_epochs(sweep).values()) - sum(before.values())
    files = [(trial["learning_rate"], Path(trial["run"]) / HISTORY_FILE) for trial in summary["trials"]]
    return {"summary": summary, "project_dir": str(sweep.project_dir), "trained_epochs": trained,
            "histories": [{"learning_rate": lr, "history": read_json(path)} for lr, path in files if path.is_file()]}


def _trial_epochs(sweep: SweepConfig) -> dict:
    """``{trial run: epochs in its history}`` of the search's trial runs on disk."""
    paths = (Path(sweep.runs_dir) / sweep.runs_task).glob(f"trial-*/{HISTORY_FILE}")
    return {path.parent.name: len(read_json(path).get("epoch", [])) for path in paths}


def cnn_train(run, config, images, runs_dir, verbose=0, trained_as=None) -> dict:
    """Train one CNN (or reuse its finished run); its results, history and trainable-parameter count.

    Args:
        trained_as: a run directory that may hold this very training (the tuner's best trial): when its
            config.json is `config`, that run is used (and resumed, or reused when finished) instead of a new one.
    """
    location = None
    if trained_as is not None and (Path(trained_as) / CONFIG_FILE).is_file() and \
            read_json(Path(trained_as) / CONFIG_FILE) == config_dict(config):
        location = (Path(trained_as).parent.parent, Path(trained_as).parent.name, Path(trained_as).name)
    trained = _train(cnn_train_module, config.model, config, images, runs_dir, verbose, location)
    model = build_model(batch_norm=MODELS[config.model], dropout=config.dropout)
    return {**trained, "params": count_trainable_params(model)}


def p2g_train(run, config, corpus, runs_dir, verbose=0) -> dict:
    """Train one speller (or reuse its finished run); its results and history."""
    label = "attention" if config.use_attention else "plain"
    return _train(p2g_train_module, label, config, corpus, runs_dir, verbose)


def _train(task_module, label: str, config, data, runs_dir, verbose, location=None) -> dict:
    """``task_module.train_and_evaluate`` in the run named after `label` and the config's digest, or at
    `location` (``(root, task, name)`` of `keras_hw2.runs.open_run`); a finished run is reused.
    Returns ``{"run", "results", "history", "trained_epochs"}``."""
    root, task, name = location or (runs_dir, task_module.TASK, f"report-{label}-{digest(config_dict(config))}")
    with open_run(task, config, name=name, root=root) as task_run:
        before = _finished_epochs(task_run)
        results = task_module.train_and_evaluate(config, task_run, data, verbose=verbose)
        history = task_run.history
    return {"run": str(task_run.path), "results": results, "history": history,
            "trained_epochs": results["epochs"] - before}


def _finished_epochs(task_run) -> int:
    """Epochs a run holds already: all of them once finished, else those of its history."""
    if (task_run.results or {}).get("status") == "finished":
        return task_run.results["epochs"]
    return len(task_run.history.get("epoch", []))


def p2g_evaluate(run, checkpoint, pairs, seed: int, attention_words: int, verbose=0) -> dict:
    """Score a trained speller on labelled words: greedy, nucleus (p = `TOP_P`, `NUM_SAMPLES` samples), beam.

    Returns:
        ``{"words", "greedy": {"cer", "wer"}, "nucleus": {"cer", "wer", "wer_at_k", "k", "p"}
        (CER and WER of each word's first sample), "beam": {"cer", "wer", "num_beams"},
        "examples": [{"phonemes", "reference", "greedy"}]}`` (the words of the heatmap), and
        ``"attention_png"`` (a file in the step's directory) for a model with attention.
    """
    speller = Speller(load_checkpoint(checkpoint))
    scores = evaluate(speller, pairs, beam=NUM_BEAMS, verbose=verbose)
    phonemes = [pair.phonemes for pair in pairs]
    references = [pair.spelling for pair in pairs]
    drawn = speller.decode(phonemes, top_p=TOP_P, num_samples=NUM_SAMPLES, seed=seed)["samples"]
    first = [samples[0] for samples in drawn]
    result = {
        "words": scores["words"],
        "greedy": {"cer": scores["cer"], "wer": scores["wer"]},
        "nucleus": {"p": TOP_P, "k": NUM_SAMPLES, "cer": metrics.character_error_rate(first, references),
                    "wer": metrics.word_error_rate(first, references),
                    "wer_at_k": metrics.word_error_rate_at_k(drawn, references)},
        "beam": {"num_beams": NUM_BEAMS, "cer": scores["beam_cer"], "wer": scores["beam_wer"]},
    }
    shown = [pair for pair in pairs if 3 <= len(pair.phonemes.split()) <= 8][:attention_words] or pairs[:1]
    greedy = speller.spell([pair.phonemes for pair in shown])
    result["examples"] = [{"phonemes": pair.phonemes, "reference": pair.spelling, "greedy": spelling}
                          for pair, spelling in zip(shown, greedy)]
    if speller.model.use_attention:
        write_attention_png(speller, [pair.phonemes for pair in shown], greedy, run.file(ATTENTION_PNG))
        result["attention_png"] = ATTENTION_PNG  # in the step's directory
    return result

