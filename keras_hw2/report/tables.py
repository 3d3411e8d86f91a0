"""The report's sections and tables, from the steps' results; the same tables go to report.md and report.json.

A table is a title, column names and rows of cells (numbers, strings or None
for "none"). Every comparison table has the columns `COLUMNS`: our figure, the
homework's published one (`keras_hw2.report.published.PUBLISHED`) beside it, the
data each was measured on, and the file ours was read from. A section lists
the steps it is made of; a step that failed (or was not reached) is named
with its error instead of the tables that need it.
"""
from dataclasses import asdict, dataclass, field

from keras_hw2.hopfield.check import BETAS, CHECK_FILE, LOWER_LIMITS, SHAPES, UPPER_LIMITS
from keras_hw2.report.published import PUBLISHED
from keras_hw2.report.steps import RESULT_FILE

COLUMNS = ["figure", "ours", "homework", "our data", "homework data", "source"]
# The quick preset's comparison tables: its figures come from a smoke run, not comparable with the homework's.
SMOKE_COLUMNS = ["figure", "ours (smoke run)", "homework (its settings; not comparable)", "our data",
                 "homework data", "source"]
SMOKE_CAPTION = ("**Smoke run** (`--preset quick`: a few images or words, a few epochs, tiny models): these figures "
                 "show that each step runs end to end, not how well the models do; `--preset full` trains with "
                 "the homework's settings and is the one to compare with the homework's figures.")

# The check's figures: what each measures, and what the homework proves about it.
CHECKS = {
    "gradient_error_convex": ("largest error of grad E1(q) = q", "0: grad E1(q) = q"),
    "gradient_error_concave": ("largest error of grad(-E2)(q) = X^T softmax(beta X q)",
                               "0: grad(-E2)(q) = X^T softmax(beta X q)"),
    "hessian_error_convex": ("largest error of the Hessian of E1 = I", "0: Hessian of E1 = I"),
    "hessian_error_concave": ("largest error of the Hessian of -E2 = beta X^T (diag p - p p^T) X",
                              "0: Hessian of -E2 = beta X^T (diag p - p p^T) X"),
    "min_eigenvalue_convex": ("smallest eigenvalue of the Hessian of E1", ">= 0: E1 is convex"),
    "min_eigenvalue_concave": ("smallest eigenvalue of the Hessian of -E2", ">= 0: E2 is concave"),
    "lse_bound_violation": ("largest violation of max z <= lse(beta, z) <= max z + log(N) / beta",
                            "0: the bounds hold"),
    "cccp_max_energy_increase": ("largest energy increase of a CCCP step", "<= 0: CCCP never increases E"),
    "cccp_max_fixed_point_residual": ("distance from a fixed point where CCCP stopped", "0: CCCP converges"),
    "attention_error_cccp": ("one CCCP step at beta = 1/sqrt(D) vs keras MultiHeadAttention",
                             "0: the update is attention"),
    "attention_error_layer": ("Hopfield layer vs keras MultiHeadAttention", "0: the update is attention"),
    "large_beta_finite": ("energy, gradients, Hessian and retrieval finite at beta = 1e6", "finite"),
    "sparsemax_max_energy_increase": ("largest increase of the sparsemax energy in a CCCP step",
                                      "(beyond the homework) <= 0"),
    "entmax15_max_energy_increase": ("largest increase of the 1.5-entmax energy in a CCCP step",
                                     "(beyond the homework) <= 0"),
}
MODEL_NAMES = {"baseline": "baseline", "batchnorm": "BatchNorm"}
P2G_MODELS = {"plain": "without attention", "attention": "with attention"}


@dataclass
class Table:
    """One table: ``rows`` are lists of cells (numbers, strings, None), one per column."""
    title: str
    columns: list
    rows: list
    caption: str = ""


@dataclass
class Section:
    """One section of the report: its tables, figures and the failures of its steps.

    Attributes:
        key: ``"q1"``, ``"q2"``, ``"q3"`` or ``"steps"``.
        title: the heading.
        steps: the keys of the steps it is made of.
        tables: its `Table`s.
        figures: ``[{"caption", "file"}]``, files relative to the report (set by `keras_hw2.report.figures`).
        failures: ``"<step title>: <error>"`` per step that failed.
        missing: the titles of its steps not run yet (the report was interrupted before them).
    """
    key: str
    title: str
    steps: list
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    missing: list = field(default_factory=list)

    @property
    def status(self) -> str:
        return "failed" if self.failures else "incomplete" if self.missing else "finished"

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


def build_sections(outcomes: dict, data: dict, total_steps: list, smoke: bool = False) -> list:
    """The report's sections from ``{step key: Outcome}``.

    Args:
        outcomes: the steps run so far, by key.
        data: how the data is named: ``{"cnn", "cnn_val", "p2g", "p2g_valid"}``.
        total_steps: ``[(key, title)]`` of every step to run, run or not (for the steps table); a question
            none of whose steps is among them has no section.
        smoke: the figures come from a smoke run (the quick preset): the comparison tables say so
            (`SMOKE_COLUMNS`, `SMOKE_CAPTION`).
    """
    sections = [
        Section("q1", "Question 1: modern Hopfield networks",
                ["hopfield-check", "hopfield-retrieval", "hopfield-capacity"]),
        Section("q2", "Question 2: CNN scene classifiers", ["cnn-lr-search", "cnn-baseline", "cnn-batchnorm"]),
        Section("q3", "Question 3: phoneme-to-grapheme seq2seq",
                ["p2g-plain", "p2g-plain-eval", "p2g-attention", "p2g-attention-eval"]),
    ]
    finished = {key: outcome for key, outcome in outcomes.items() if outcome.finished}
    titles = dict(total_steps)
    chosen = [section for section in sections if set(section.steps) & set(titles)]
    for section in chosen:
        for key in section.steps:
            outcome = outcomes.get(key)
            if outcome is None:
                section.missing.append(titles[key])
            elif not outcome.finished:
                section.failures.append(f"{outcome.title}: {outcome.error}")
    sections[0].tables = _hopfield_tables(finished)
    sections[1].tables = _cnn_tables(finished, data)
    sections[2].tables = _p2g_tables(finished, data)
    if smoke:
        for table in (table for section in sections for table in section.tables if table.columns == COLUMNS):
            table.columns = SMOKE_COLUMNS
            table.caption = f"{SMOKE_CAPTION} {table.caption}".strip()
    steps = Section("steps", "Steps", [key for key, _ in total_steps], tables=[_steps_table(outcomes, total_steps)])
    return [*chosen, steps]


def _source(outcome, file_name=RESULT_FILE) -> str:
    return f"{outcome.directory}/{file_name}"


def _hopfield_tables(finished: dict) -> list:
    tables = []
    check = finished.get("hopfield-check")
    if check:
        figures, passed = check.result["figures"], check.result["passed"]
        data = f"{figures['num_instances']} random float64 instances"
        source = _source(check, CHECK_FILE)
        rows = []
        # the checks without a row text in CHECKS sorted: a result read back from result.json has sorted keys
        for key in [*(key for key in CHECKS if key in passed), *sorted(key for key in passed if key not in CHECKS)]:
            ok = passed[key]
            label, claim = CHECKS.get(key, (key, None))
            limit = (f"<= {UPPER_LIMITS[key]:.0e}" if key in UPPER_LIMITS else
                     f">= {LOWER_LIMITS[key]:.0e}" if key in LOWER_LIMITS else "finite")
            rows.append([label, figures[key], limit, "PASS" if ok else "FAIL", claim, data, source])
        rows.append(["most CCCP steps to converge", figures["cccp_max_steps"], None, None, None, data, source])
        tables.append(Table(
            "Calculus and CCCP check", ["check", "ours", "limit", "result", "homework", "our data", "source"], rows,
            caption=f"Closed forms of the homework against automatic differentiation (`tf.GradientTape`), on "
                    f"random instances with (N, D) in {list(SHAPES)} and beta in {list(BETAS)}. The homework "
                    "proves these identities; it publishes no figures for them."))
    retrieval = finished.get("hopfield-retrieval")
    if retrieval:
        report = retrieval.result["report"]
        config = report["config"]
        accuracy = {}
        for row in report["results"]:
            accuracy.setdefault((row["corruption"], row["level"]), {})[row["beta"]] = row["accuracy"]
        patterns = (f"{config['data']} images" if config["data"] else
                    f"random +-1 {config['pattern_size']}x{config['pattern_size']} patterns")
        data = f"{config['num_queries']} queries, {report['num_patterns']} {patterns}"
        rows = [[f"{kind} {level:g}", *[values.get(beta) for beta in config["betas"]], None, data]
                for (kind, level), values in accuracy.items()]
        tables.append(Table(
            "Retrieval accuracy against beta", ["corruption", *[f"beta={b:g}" for b in config["betas"]],
                                                 "homework", "our data"], rows,
            caption=f"Fraction of corrupted queries whose CCCP fixed point is nearest their own stored pattern "
                    f"(noise: noise norm / pattern norm; mask: fraction of pixels masked), at most "
                    f"{config['max_steps']} updates; from {_source(retrieval, 'report.json')}. The homework "
                    "publishes no retrieval figures."))
    capacity = finished.get("hopfield-capacity")
    if capacity:
        report = capacity.result["report"]
        config = report["config"]
        largest = {}
        for row in report["capacity"]:
            shown = None if row["largest_n"] is None else (">=" if row["saturated"] else "") + str(row["largest_n"])
            largest.setdefault((row["association"], row["beta"], row["mode"]), {})[row["dim"]] = shown
        data = (f"{config['num_queries']} queries per (D, N), random +-1 patterns, {config['flip']:.0%} of the "
                f"signs flipped")
        rows = [[association, beta, mode, *[values.get(dim) for dim in config["dims"]], data]
                for (association, beta, mode), values in largest.items()]
        tables.append(Table(
            f"Capacity: the largest N retrieved at >= {config['threshold']:.0%}",
            ["association", "beta", "mode", *[f"D={dim}" for dim in config["dims"]], "our data"], rows,
            caption=f"Beyond the homework: N stored patterns (grid {config['patterns'][0]} ... "
                    f"{config['patterns'][-1]}) against the pattern dimension D, after one update and after "
                    f"convergence (at most {config['max_steps']} updates); '>=': every N of the grid passed; "
                    f"from {_source(capacity, 'capacity.json')}. Ramsauer et al. (2020) prove a capacity "
                    "exponential in D for the softmax update."))
    return tables


def _cnn_tables(finished: dict, data: dict) -> list:
    tables = []
    search = finished.get("cnn-lr-search")
    val_data = f"validation, {data['cnn_val']} images"
    if search:
        summary = search.result["summary"]
        source = f"{search.result['project_dir']}/best_lr.json"
        epochs = f"{val_data}; {_plural(summary['epochs'], 'epoch')}"
        rows = [[f"best validation accuracy at lr {trial['learning_rate']:g}", trial["best_val_accuracy"], None,
                 epochs, None, f"{trial['run']}/results.json"] for trial in summary["trials"]]
        published, published_data = PUBLISHED["cnn_best_lr"]
        rows.append(["best learning rate", summary["learning_rate"], published, epochs, published_data, source])
        tables.append(Table("Learning-rate search (keras-tuner, baseline CNN, SGD, batch 8)", COLUMNS, rows,
                            caption="One keras-tuner trial per learning rate, each a training run from the same "
                                    "initial weights, trained as the two CNNs below are; the objective is the "
                                    "best validation accuracy over the epochs. The baseline below is the best "
                                    "trial's run when it trained for as many epochs. "
                                    f"Data: {data['cnn']}."))
    rows = []
    for model, name in MODEL_NAMES.items():
        trained = finished.get(f"cnn-{model}")
        if trained:
            published, published_data = PUBLISHED[f"cnn_params_{model}"]
            rows.append([f"trainable parameters, {name}", trained.result["params"], published,
                         "the model definition", published_data, "keras_hw2.cnn.models.build_model"])
    for model, name in MODEL_NAMES.items():
        trained = finished.get(f"cnn-{model}")
        if trained:
            results = trained.result["results"]
            published, published_data = PUBLISHED[f"cnn_best_val_accuracy_{model}"]
            rows.append([f"best validation accuracy, {name}", results["best_val_accuracy"], published,
                         f"{val_data}; epoch {results['best_epoch']} of {results['epochs']}", published_data,
                         f"{trained.result['run']}/results.json"])
    if rows:
        tables.append(Table("The two CNNs (SGD at the best learning rate, batch 8, dropout 0.1)", COLUMNS, rows,
                            caption=f"Data: {data['cnn']}."))
    return tables


def _p2g_tables(finished: dict, data: dict) -> list:
    rows = []
    valid = f"validation, {data['p2g_valid']} words"
    for model, name in P2G_MODELS.items():
        scores = finished.get(f"p2g-{model}-eval")
        if not scores:
            continue
        result, source = scores.result, _source(scores)
        nucleus, beam = result["nucleus"], result["beam"]
        figures = [
            ("CER, greedy", result["greedy"]["cer"], f"p2g_cer_{model}"),
            ("WER, greedy", result["greedy"]["wer"], f"p2g_wer_{model}"),
            (f"CER, nucleus p={nucleus['p']:g} (first sample)", nucleus["cer"], f"p2g_nucleus_cer_{model}"),
            (f"WER, nucleus p={nucleus['p']:g} (first sample)", nucleus["wer"], f"p2g_nucleus_wer_{model}"),
            (f"WER@{nucleus['k']}, nucleus p={nucleus['p']:g}", nucleus["wer_at_k"],
             f"p2g_nucleus_wer_at_{nucleus['k']}_{model}"),
            (f"CER, beam {beam['num_beams']}", beam["cer"], None),
            (f"WER, beam {beam['num_beams']}", beam["wer"], None),
        ]
        for label, value, key in figures:
            published, published_data = PUBLISHED.get(key, (None, None))
            rows.append([f"{label}, {name}", value, published, valid, published_data, source])
        trained = finished.get(f"p2g-{model}")
        if trained:
            results = trained.result["results"]
            rows.append([f"best validation CER while training (greedy), {name}", results["val_cer"], None,
                         f"{valid}; epoch {results['best_epoch']} of {results['epochs']}", None,
                         f"{trained.result['run']}/results.json"])
    tables = []
    if rows:
        tables.append(Table("CER and WER of the two spellers", COLUMNS, rows,
                            caption="Ours are validation figures: the test splits are held back. The homework's "
                                    f"are test-split figures. Data: {data['p2g']}."))
    plain, attention = finished.get("p2g-plain-eval"), finished.get("p2g-attention-eval")
    if attention:
        plain_spellings = {e["phonemes"]: e["greedy"] for e in (plain.result["examples"] if plain else [])}
        rows = [[e["phonemes"], e["reference"], plain_spellings.get(e["phonemes"]), e["greedy"]]
                for e in attention.result["examples"]]
        tables.append(Table("Greedy spellings of the heatmap's words",
                            ["phonemes", "reference", "without attention", "with attention"], rows))
    return tables


def _plural(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"2 epochs"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _steps_table(outcomes: dict, total_steps: list) -> Table:
    rows = []
    for key, title in total_steps:
        outcome = outcomes.get(key)
        if outcome is None:
            rows.append([title, "not run", None, None, None, None])
        else:
            rows.append([outcome.title, outcome.status, "yes" if outcome.reused else "no", round(outcome.seconds, 1),
                         outcome.trained_epochs, outcome.directory])
    return Table("What ran", ["step", "status", "reused", "seconds", "epochs trained", "directory"], rows)
