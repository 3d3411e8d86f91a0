"""``train --init-from PRESET|RUN``: a training run that starts from a trained model's weights.

The model of the new run must be the same architecture as the one it starts
from (the same weight shapes, in order); a speller must also read and write the
same symbols, since its embedding rows are its vocabularies: the run takes the
starting model's vocabularies, and its training words may hold no symbol
outside them. `check_classifier` and `check_speller` refuse anything else
before the run directory is written, naming what differs; `initialize` copies the weights when the run's
model is built (a resumed run then restores its own last epoch over them).
"""
from keras_hw2 import presets
from keras_hw2.errors import InputError


def check_classifier(init_from: str, fresh):
    """The CNN `init_from` names, if it has the weight shapes of `fresh` (the run's model as built).

    Raises:
        InputError: another task, another architecture (naming both sizes), or a model that cannot be loaded.
    """
    initial = _load(init_from, "cnn")
    if [tuple(w.shape) for w in initial.weights] != [tuple(w.shape) for w in fresh.weights]:
        _refuse(init_from, [f"another architecture: {initial.count_params():,} parameters in "
                            f"{len(initial.weights)} weight tensors, this run's model {fresh.count_params():,} in "
                            f"{len(fresh.weights)}"])
    return initial


def check_speller(init_from: str, settings: dict, pairs):
    """The speller `init_from` names, if it has the run's `settings` and knows every symbol of `pairs`.

    Args:
        init_from: a preset's name, a run directory or a ``.keras`` file.
        settings: the run's architecture, `keras_hw2.p2g.train.TrainConfig.settings` (keys of the model's
            ``get_config``; one the speller lacks differs).
        pairs: the run's training words (`keras_hw2.p2g.data.Pair`).

    Raises:
        InputError: another task, other settings, symbols outside its
            vocabularies (naming them), or a model that cannot be loaded.
    """
    initial = _load(init_from, "p2g")
    config = initial.get_config()
    problems = _unknown_symbols(initial, pairs) + [
        f"{key} is {config[key]}, this run's {value}" if key in config else
        f"it has no {key} (another kind of model), this run's is {value}"
        for key, value in settings.items() if config.get(key) != value]
    if problems:
        _refuse(init_from, problems)
    return initial


def load_task_model(path, task: str):
    """The model file or run `path` of `task`, through that task's own loader (and its `ModelCheck`)."""
    if task == "cnn":
        from keras_hw2.cnn.predict import load_classifier
        return load_classifier(path)
    from keras_hw2.p2g.speller import load_checkpoint
    return load_checkpoint(path)


def _load(init_from: str, task: str):
    """The model `init_from` names; a preset of the other task is refused by name."""
    return load_task_model(presets.checked_file(init_from, task, flag="--init-from")
                           if presets.is_preset(init_from) else init_from, task)


def _refuse(init_from, problems):
    raise InputError(f"--init-from {init_from} cannot start this run: {'; '.join(problems)}. "
                     f"Received: --init-from={init_from}")


def vocabularies(init_from: str):
    """The source and target `Vocabulary` of the speller `init_from` names (the run keeps them)."""
    initial = _load(init_from, "p2g")
    return initial.source_vocabulary, initial.target_vocabulary


def initialize(model, init_from, task: str):
    """`model` with the weights of `init_from` (a preset, run or ``.keras`` file); unchanged when it is None."""
    if init_from is not None:
        model.set_weights(_load(init_from, task).get_weights())
    return model


def _unknown_symbols(initial, pairs) -> list:
    """What the training words hold that the speller's vocabularies lack, one phrase per side."""
    problems = []
    for side, known, symbols in (
            ("phoneme", initial.source_vocabulary.tokens, {s for p in pairs for s in p.phonemes.split()}),
            ("character", initial.target_vocabulary.tokens, {c for p in pairs for c in p.spelling})):
        unknown = sorted(symbols - set(known))
        if unknown:
            shown = " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            problems.append(f"the training words hold {len(unknown)} {side} symbols outside its vocabulary: {shown}")
    return problems
