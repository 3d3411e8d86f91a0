"""The report's PNG figures, drawn from the steps' results into ``<out>/figures/``.

Question 1: the CCCP energy descent and the retrieval accuracy against beta
(drawn by the retrieval demo, copied). Question 2: the training loss and the
validation accuracy per learning rate (the keras-tuner trials) and for both
CNNs, and their confusion matrices. Question 3: the validation CER per epoch of
both spellers and the attention heatmap of a few words (drawn by the
evaluation step, copied). A figure whose step did not finish is left out.
"""
import shutil
from pathlib import Path

from keras_hw2.cnn.data import CLASS_NAMES
from keras_hw2.cnn.evaluation import plot_confusion_matrix
from keras_hw2.plots import plot_curves
from keras_hw2.report.tables import MODEL_NAMES, P2G_MODELS

FIGURES_DIR = "figures"  # inside the report folder


def draw_figures(outcomes: dict, out) -> dict:
    """Draw (or copy) every figure whose steps finished; other PNGs in ``out/figures/`` are removed.

    Args:
        outcomes: ``{step key: Outcome}``.
        out: the report folder; figures go to ``out/figures/``.

    Returns:
        ``{section key: [{"caption", "file"}]}`` with files relative to `out`.
    """
    directory = Path(out) / FIGURES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.png"):  # from an earlier call (e.g. a step that failed this time)
        stale.unlink()
    finished = {key: outcome for key, outcome in outcomes.items() if outcome.finished}
    figures = {"q1": [], "q2": [], "q3": []}

    def add(section, caption, name, drawn):
        if drawn:
            figures[section].append({"caption": caption, "file": f"{FIGURES_DIR}/{name}"})

    retrieval = finished.get("hopfield-retrieval")
    if retrieval:
        drawn = retrieval.result["report"]["files"]  # {"energy": "energy.png", ...} in the step's directory
        add("q1", "CCCP energy descent (mean over the queries)", "hopfield_energy.png",
            _copy(retrieval, drawn.get("energy"), directory / "hopfield_energy.png"))
        add("q1", "Retrieval accuracy against beta", "hopfield_accuracy.png",
            _copy(retrieval, drawn.get("accuracy"), directory / "hopfield_accuracy.png"))

    capacity = finished.get("hopfield-capacity")
    if capacity:
        drawn = capacity.result["report"]["files"]  # {"accuracy": "accuracy.png", "capacity": "capacity.png"}
        add("q1", "Capacity: retrieval accuracy against the number of stored patterns", "hopfield_capacity.png",
            _copy(capacity, drawn.get("accuracy"), directory / "hopfield_capacity.png"))
        add("q1", "Capacity: the largest N retrieved against D", "hopfield_capacity_largest.png",
            _copy(capacity, drawn.get("capacity"), directory / "hopfield_capacity_largest.png"))

    search = finished.get("cnn-lr-search")
    if search:
        histories = search.result["histories"]
        for key, label, name in (("loss", "training loss (NLL)", "cnn_lr_loss.png"),
                                 ("val_accuracy", "validation accuracy", "cnn_lr_val_accuracy.png")):
            curves = {f"lr={trial['learning_rate']:g}": trial["history"][key] for trial in histories
                      if key in trial["history"]}
            add("q2", f"Learning-rate search: {label} per learning rate", name,
                curves and plot_curves(curves, directory / name, ylabel=label, title=f"baseline CNN: {label}"))
    models = {model: finished[f"cnn-{model}"].result for model in MODEL_NAMES if f"cnn-{model}" in finished}
    for key, label, name in (("loss", "training loss (NLL)", "cnn_loss.png"),
                             ("val_accuracy", "validation accuracy", "cnn_val_accuracy.png")):
        curves = {MODEL_NAMES[model]: result["history"][key] for model, result in models.items()}
        add("q2", f"Both CNNs: {label} per epoch", name,
            curves and plot_curves(curves, directory / name, ylabel=label, title=f"CNNs: {label}"))
    for model, result in models.items():
        split = "test" if "test" in result["results"] else "validation"
        name = f"cnn_confusion_{model}.png"
        title = f"{MODEL_NAMES[model]}: {split} confusion matrix (best epoch {result['results']['best_epoch']})"
        add("q2", f"Confusion matrix of the {MODEL_NAMES[model]} CNN's best epoch ({split} split)", name,
            plot_confusion_matrix(result["results"][split]["confusion_matrix"], CLASS_NAMES, directory / name,
                                  title=title))

    curves = {label: finished[f"p2g-{model}"].result["history"]["val_cer"]
              for model, label in P2G_MODELS.items() if f"p2g-{model}" in finished}
    add("q3", "Validation CER (greedy) per epoch", "p2g_val_cer.png",
        curves and plot_curves(curves, directory / "p2g_val_cer.png", ylabel="validation CER",
                               title="spellers: validation CER"))
    attention = finished.get("p2g-attention-eval")
    if attention:
        add("q3", "Attention weights of the speller with attention (rows: output characters, columns: phonemes)",
            "p2g_attention.png",
            _copy(attention, attention.result.get("attention_png"), directory / "p2g_attention.png"))
    return figures


def _copy(outcome, name, target: Path) -> bool:
    """Copy the PNG `name` a step drew into its directory; False when it is gone."""
    source = Path(outcome.directory) / name if name else None
    if source is None or not source.is_file():
        return False
    shutil.copyfile(source, target)
    return True
