"""Reproduce the homework: run (or reuse) every step, then write report.md, report.json and the figures.

`build_report(settings, out, runs_dir)`:

1. refuses an ``out`` folder holding a report made with other settings
   (unless ``overwrite``), then loads and checks the data
   (`keras_hw2.report.inputs`), before anything is written;
2. locks ``out`` and runs the ten steps in order (`STEPS`; with ``only``, those of the questions named,
   and the report has only their sections,
   `keras_hw2.report.steps.StepRunner`): each is reused when a run with the
   same configuration finished before, and training resumes from the last
   finished epoch (or trial) of an interrupted one;
3. writes the report, also when a step failed (its section marked failed,
   its error shown) or on Ctrl-C (the steps not reached marked as not run): into a temporary folder
   inside ``out`` first, then moved into place file by file (`keras_hw2.report.render.publish`), so that
   a crash or a write without room (exit status 4; the finished steps are kept) leaves no half-written
   file in ``out``.
"""
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from keras_hw2.cnn import train as cnn_train
from keras_hw2.errors import InputError, room_to_write
from keras_hw2.hopfield.capacity import CapacityConfig
from keras_hw2.hopfield.check import write_check
from keras_hw2.hopfield.demo import RetrieveConfig
from keras_hw2.locks import DirectoryLock
from keras_hw2.p2g import train as p2g_train
from keras_hw2.report import questions
from keras_hw2.report.figures import draw_figures
from keras_hw2.report.inputs import Settings, digest, load_inputs, write_samples
from keras_hw2.report.presets import CNN_BATCH_SIZE, LEARNING_RATES, NUM_BEAMS, NUM_SAMPLES, PRESETS, TOP_P
from keras_hw2.report.render import (REPORT_JSON, REPORT_MD, STAGING_PREFIX, publish, relative_paths, settings_of,
                                     write_report)
from keras_hw2.report.steps import StepRunner
from keras_hw2.runs import config_dict
from keras_hw2.report.tables import build_sections
from tuners.lr_grid import SweepConfig

TUNER_DIR = "report/tuner"  # under --runs-dir: keras-tuner's state of the learning-rate searches (their trials
# are runs under <runs-dir>/tuner/)
STEPS = [  # (key, what it does): the report's steps, in order
    ("hopfield-check", "Q1 Hopfield calculus and CCCP check"),
    ("hopfield-retrieval", "Q1 Hopfield retrieval"),
    ("hopfield-capacity", "Q1 Hopfield capacity"),
    ("cnn-lr-search", "Q2 learning-rate search"),
    ("cnn-baseline", "Q2 baseline CNN"),
    ("cnn-batchnorm", "Q2 BatchNorm CNN"),
    ("p2g-plain", "Q3 speller without attention"),
    ("p2g-plain-eval", "Q3 decoding without attention"),
    ("p2g-attention", "Q3 speller with attention"),
    ("p2g-attention-eval", "Q3 decoding with attention"),
]
QUESTIONS = {"q1": "hopfield-", "q2": "cnn-", "q3": "p2g-"}  # ``--only``: each question's steps by key prefix
PRESET_NOTES = {
    "quick": "The **quick** preset is a smoke run: a few images and words, a few epochs, tiny spellers. Its "
             "figures show that every step works end to end; they are not comparable with the homework's. "
             "`--preset full` uses the homework's settings.",
    "full": "The **full** preset uses the homework's settings: 40 epochs per learning rate and per CNN (SGD, "
            "batch 8, dropout 0.1), 20 epochs per speller (hidden size 128, Adam 0.003, batch 64).",
}


@dataclass
class Report:
    """What `build_report` made: report.md's path, the status and every step's `Outcome`."""
    path: Path
    status: str
    outcomes: dict


def check_out(out, settings: Settings, overwrite: bool = False) -> None:
    """Refuse an `out` that is not a folder, or holds a report made with other settings (unless `overwrite`).

    Raises:
        InputError: `out` is a file, or its report.json records other settings or is unreadable.
    """
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"{out}: not a directory. Received: --out={out}")
    path = Path(out) / REPORT_JSON
    if overwrite or not path.is_file():
        return
    try:
        stored = settings_of(path)
    except InputError as e:
        raise InputError(f"{e}; pass --overwrite to replace it. Received: --out={out}") from None
    current = relative_paths(settings.as_dict())  # as report.json records them
    if stored != current:
        keys = sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))
        raise InputError(f"{out}: holds a report made with other settings (differs in: {', '.join(keys)}); "
                         f"pass --overwrite to replace it or choose another --out. Received: --out={out}")


def selected_steps(only=None) -> list:
    """The `STEPS` of the questions in `only` (e.g. ``("q1", "q3")``), in order; every step when None."""
    prefixes = tuple(QUESTIONS[q] for q in (only or QUESTIONS))
    return [(key, title) for key, title in STEPS if key.startswith(prefixes)]


def build_report(settings: Settings, out, runs_dir="runs", overwrite: bool = False, quiet: bool = False,
                 command: str = "python -m keras_hw2 report", only=None) -> Report:
    """Run every step (reusing finished ones) and write the report into `out`.

    Args:
        settings: the preset, data and seed.
        out: the report folder (created).
        runs_dir: the root of every run directory the steps use.
        overwrite: replace a report made with other settings.
        quiet: print nothing but failed steps (on stderr).
        command: the command line, recorded in the report.
        only: the questions to run and report, e.g. ``("q1", "q3")`` (keys of `QUESTIONS`); None: all.

    Returns:
        The `Report`; its status is "finished" or "failed" (a step failed).

    Raises:
        InputError: bad data or a refused `out`, before anything is written or trained.
        KeyboardInterrupt: Ctrl-C; the report of the finished steps is written first.
    """
    preset = PRESETS[settings.preset]
    check_out(out, settings, overwrite)
    inputs = load_inputs(settings, preset)
    echo = (lambda line: None) if quiet else (lambda line: print(line, flush=True))
    steps = selected_steps(only)
    runner = StepRunner(runs_dir, len(steps), echo, lambda line: print(line, file=sys.stderr, flush=True))
    start = time.perf_counter()
    with DirectoryLock(out, what="report"):
        write_samples(inputs, settings, runs_dir)
        try:
            _run_steps(runner, settings, preset, inputs, runs_dir, quiet, {key for key, _ in steps})
        except KeyboardInterrupt as e:
            path = _write(out, settings, preset, inputs, runner, runs_dir, command, start, "interrupted", steps)
            step = f"in step {len(runner.outcomes) + 1} of {len(steps)}, {runner.current}" if runner.current \
                else f"after step {len(runner.outcomes)} of {len(steps)}"
            detail = str(e).split(";")[0]  # e.g. the engine's "at epoch N of runs/cnn/<name>"
            raise KeyboardInterrupt(f"{step}{' ' + detail if detail else ''}; re-run the same command to resume "
                                    f"(finished steps are reused); the report so far: {path}") from None
        status = "finished" if all(outcome.finished for outcome in runner.outcomes) else "failed"
        path = _write(out, settings, preset, inputs, runner, runs_dir, command, start, status, steps)
    return Report(path, status, {outcome.key: outcome for outcome in runner.outcomes})


def _run_steps(runner: StepRunner, settings: Settings, preset, inputs, runs_dir, quiet: bool, keys: set) -> None:
    """The steps of `STEPS` whose keys are in `keys` (whole questions), through the tasks' library functions
    (`keras_hw2.report.questions`)."""
    seed = settings.seed
    verbose = "auto" if preset.show_training and not quiet else 0
    titles = dict(STEPS)
    if "hopfield-check" in keys:
        _hopfield_steps(runner, seed, preset, titles, verbose)
    if "cnn-lr-search" in keys:
        _cnn_steps(runner, seed, preset, inputs, runs_dir, titles, verbose)
    if "p2g-plain" in keys:
        _p2g_steps(runner, seed, preset, inputs, runs_dir, titles, verbose)


def _hopfield_steps(runner: StepRunner, seed: int, preset, titles: dict, verbose) -> None:
    instances = preset.hopfield_instances
    runner.run("hopfield-check", f"{titles['hopfield-check']} ({instances} instances)",
               {"seed": seed, "num_instances": instances},
               lambda run: write_check(run, seed, instances))
    retrieve = RetrieveConfig(**preset.retrieval, seed=seed)
    runner.run("hopfield-retrieval", f"{titles['hopfield-retrieval']} ({retrieve.num_patterns} patterns, "
               f"{len(retrieve.betas)} betas)", asdict(retrieve),
               lambda run: questions.hopfield_retrieval(run, retrieve, verbose))
    capacity = CapacityConfig(**preset.capacity, seed=seed)
    runner.run("hopfield-capacity", f"{titles['hopfield-capacity']} (D in {list(capacity.dims)}, "
               f"{len(capacity.patterns)} pattern counts, {len(capacity.associations)} maps)", asdict(capacity),
               lambda run: questions.hopfield_capacity(run, capacity, verbose))


def _cnn_steps(runner: StepRunner, seed: int, preset, inputs, runs_dir, titles: dict, verbose) -> None:
    search_config = {"model": "baseline", "data": inputs.data_cnn, "learning_rates": LEARNING_RATES,
                     "epochs": preset.lr_search_epochs, "batch_size": CNN_BATCH_SIZE, "seed": seed}
    sweep = SweepConfig(**search_config, directory=str(Path(runs_dir) / TUNER_DIR),
                        project_name=f"report-cnn-lr-{digest(search_config)}", runs_dir=str(runs_dir))
    search = runner.run("cnn-lr-search", f"{titles['cnn-lr-search']} ({len(LEARNING_RATES)} trials x "
                        f"{preset.lr_search_epochs} epoch{'s' if preset.lr_search_epochs > 1 else ''})", search_config,
                        lambda run: questions.cnn_lr_search(run, sweep, inputs.images, verbose))
    lr = search.result["summary"]["learning_rate"] if search.finished else None
    best_trial = search.result["summary"]["run"] if search.finished else None  # trained like the baseline below
    for model in ("baseline", "batchnorm"):
        config = None if lr is None else cnn_train.TrainConfig(
            model=model, data=inputs.data_cnn, epochs=preset.cnn_epochs, batch_size=CNN_BATCH_SIZE,
            learning_rate=lr, seed=seed)
        title = titles[f"cnn-{model}"] + ("" if lr is None else f" ({preset.cnn_epochs} epochs, lr {lr:g})")
        runner.run(f"cnn-{model}", title, {} if config is None else config_dict(config),
                   lambda run, config=config, model=model: questions.cnn_train(
                       run, config, inputs.images, runs_dir, verbose,
                       trained_as=best_trial if model == "baseline" else None),
                   needs=[search])


def _p2g_steps(runner: StepRunner, seed: int, preset, inputs, runs_dir, titles: dict, verbose) -> None:
    valid = inputs.corpus.splits["valid"]
    for model, attention in (("plain", False), ("attention", True)):
        config = p2g_train.TrainConfig(data=inputs.data_p2g, use_attention=attention, units=preset.p2g_units,
                                       epochs=preset.p2g_epochs, batch_size=preset.p2g_batch_size, seed=seed)
        trained = runner.run(f"p2g-{model}", f"{titles['p2g-' + model]} ({preset.p2g_epochs} epochs, "
                             f"{preset.p2g_units} units)", config_dict(config),
                             lambda run, config=config: questions.p2g_train(run, config, inputs.corpus, runs_dir,
                                                                            verbose))
        evaluation = {"training": config_dict(config), "words": len(valid), "seed": seed, "top_p": TOP_P,
                      "num_samples": NUM_SAMPLES, "num_beams": NUM_BEAMS, "attention_words": preset.attention_words}
        runner.run(f"p2g-{model}-eval", f"{titles[f'p2g-{model}-eval']} (greedy, nucleus p={TOP_P:g} x "
                   f"{NUM_SAMPLES}, beam {NUM_BEAMS}; {len(valid)} words)", evaluation,
                   lambda run, trained=trained: questions.p2g_evaluate(
                       run, Path(runs_dir) / p2g_train.TASK / Path(trained.result["run"]).name, valid, seed,
                       preset.attention_words, verbose),
                   needs=[trained])


def _write(out, settings: Settings, preset, inputs, runner: StepRunner, runs_dir, command: str, start: float,
           status: str, steps: list) -> Path:
    """Draw the figures and write report.md and report.json from the steps run so far (of `steps`): into a
    temporary folder in `out`, then moved into place (`publish`)."""
    outcomes = {outcome.key: outcome for outcome in runner.outcomes}
    data = {"cnn": inputs.images_source, "cnn_val": len(inputs.images.splits["val"][1]),
            "p2g": inputs.corpus_source, "p2g_valid": len(inputs.corpus.splits["valid"])}
    sections = build_sections(outcomes, data, steps, smoke=settings.preset == "quick")
    reused = sum(outcome.reused for outcome in outcomes.values())
    header = {
        "title": f"Homework 2, reproduced ({settings.preset} preset)", "status": status, "command": command,
        "settings": settings.as_dict(), "preset": asdict(preset), "runs_dir": str(runs_dir), "data": data,
        "questions": sorted({key for key, prefix in QUESTIONS.items() for step, _ in steps if step.startswith(prefix)}),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": time.perf_counter() - start,
        "notes": [PRESET_NOTES[settings.preset], "",
                  f"{reused} of {len(steps)} steps were reused from earlier runs. Our figures are validation "
                  "figures (the test splits are held back); the homework's P2G figures are test figures."],
    }
    for stale in Path(out).glob(f"{STAGING_PREFIX}*"):  # left by a killed call (`out` is locked: none is ours)
        shutil.rmtree(stale, ignore_errors=True)
    stage = Path(out) / f"{STAGING_PREFIX}{os.getpid()}"
    with room_to_write(out, also=(Exception,), hint="the finished steps are kept: make room and re-run the same "
                       "command to resume"):
        try:
            figures = draw_figures(outcomes, stage)
            for section in sections:
                section.figures = figures.get(section.key, [])
            write_report(stage, header, sections, outcomes)
            publish(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return Path(out) / REPORT_MD
