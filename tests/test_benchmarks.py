"""keras_hw2.benchmarks: the harness's figures, the table, the JSON report and the command (tiny sizes, no timing)."""
import dataclasses
import json
import socket
import time
from datetime import date

import pytest

from keras_hw2.benchmarks import harness
from keras_hw2.cli import run_main


def test_row_summary_gives_min_median_max_and_ratio_to_reference():
    row = harness.Row("epoch", "an epoch", "s", [6.0, 5.0, 7.0], higher_is_better=False, reference=10.0, target=0.5)
    assert row.summary() == {"min": 5.0, "median": 6.0, "max": 7.0, "ratio": 0.6, "met": False}
    faster = harness.Row("epoch", "an epoch", "s", [4.0, 5.0, 4.5], higher_is_better=False, reference=10.0,
                         target=0.5)
    assert faster.summary()["met"] is True


def test_target_on_value_ignores_the_reference_for_met():
    row = harness.Row("latency", "one word", "ms", [1.5, 1.9, 3.0], higher_is_better=False, reference=4.2,
                      target=2.0, target_on_value=True)
    assert row.summary()["met"] is True and row.summary()["ratio"] == pytest.approx(1.9 / 4.2)
    rate = harness.Row("greedy", "greedy", "words/s", [9000.0, 9500.0], higher_is_better=True, target=10_000)
    assert rate.summary() == {"min": 9000.0, "median": 9250.0, "max": 9500.0, "ratio": None, "met": False}


def test_timing_row_turns_seconds_into_rates_or_durations():
    timing = harness.Timing(wall=[2.0, 4.0, 1.0], cpu=[1.0, 1.0, 1.0])
    rate = harness.timing_row("r", "rate", timing, 100, "words/s", True)
    assert rate.values == [50.0, 25.0, 100.0] and rate.details["cpu_seconds"] == [1.0, 1.0, 1.0]
    duration = harness.timing_row("d", "duration", timing, 1000, "ms", False)
    assert duration.values == [2000.0, 4000.0, 1000.0]


def test_measure_warms_up_then_times_each_repeat():
    calls = []
    timing = harness.measure(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(timing.wall) == len(timing.cpu) == 3
    with pytest.raises(ValueError, match="Received: repeats=0"):
        harness.measure(lambda: None, repeats=0)


def test_table_shows_reference_ratio_target_and_verdict():
    rows = [harness.Row("e", "P2G epoch", "s", [5.0, 6.0, 7.0], False, reference=10.0, target=0.5),
            harness.Row("l", "one word", "ms", [1.0, 2.5, 3.0], False, reference=4.2, target=2.0,
                        target_on_value=True)]
    lines = harness.format_table(rows).splitlines()
    assert lines[0].split() == ["measure", "unit", "min", "median", "max", "reference", "ratio", "target", "met"]
    assert lines[1].split()[-8:] == ["5", "6", "7", "10", "0.60", "<=", "0.5x", "no"]
    assert lines[2].split()[-8:] == ["1", "2.5", "3", "4.2", "0.60", "<=", "2", "no"]


def test_report_is_written_as_date_and_host_json(tmp_path):
    row = harness.Row("e", "P2G epoch", "s", [5.0, 6.0, 7.0], False, reference=10.0, target=0.5)
    path = harness.write_report([row], tmp_path / "out", {"quick": True})
    assert path == tmp_path / "out" / f"{date.today().isoformat()}-{socket.gethostname()}.json"
    report = json.loads(path.read_text())
    assert report["quick"] is True and report["environment"]["cpus"] >= 1
    assert report["rows"][0]["values"] == [5.0, 6.0, 7.0]
    assert (report["rows"][0]["median"], report["rows"][0]["ratio"], report["rows"][0]["met"]) == (6.0, 0.6, False)


def test_command_runs_the_chosen_rows_with_repeats(tmp_path, capsys):
    from keras_hw2.benchmarks.__main__ import main
    assert run_main(main, ["--quick", "--only", "p2g-decode", "--repeats", "3", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:5] == ["measure", "unit", "min", "median", "max"]
    (path,) = tmp_path.glob("*.json")
    rows = json.loads(path.read_text())["rows"]
    assert [r["name"] for r in rows] == ["greedy_batch", "greedy_batch_xla", "nucleus_batch", "beam_batch"]
    assert all(len(r["values"]) == 3 and r["min"] <= r["median"] <= r["max"] and r["min"] > 0 for r in rows)
    assert rows[0]["reference"] == 239.0 and rows[0]["target"] == 10_000


def test_unknown_group_is_bad_input(tmp_path, capsys):
    from keras_hw2.benchmarks.__main__ import main
    assert run_main(main, ["--only", "p2g,gpu", "--output-dir", str(tmp_path)]) == 2
    assert "Received: --only=p2g,gpu" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_gpu_check_says_there_is_no_gpu_and_exits_0(capsys):
    import tensorflow as tf

    from keras_hw2.benchmarks import gpu_command
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: the checks would run")
    assert run_main(gpu_command.main, []) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("devices: CPU:0 (no GPU visible)")
    assert out[1] == "no GPU visible to TensorFlow: the GPU checks did not run"


def test_hopfield_difference_of_a_device_with_itself_is_zero():
    """The comparison itself: the same device twice gives 0 (`hopfield_difference` is deterministic)."""
    from keras_hw2.benchmarks import gpu
    assert gpu.hopfield_difference("/CPU:0", "/CPU:0") == 0.0


def test_hopfield_results_agree_between_the_gpu_and_the_cpu():
    from keras_hw2.benchmarks import gpu
    if gpu.gpu_name() is None:
        pytest.skip("no GPU visible: the GPU-CPU comparison needs one")
    assert gpu.hopfield_difference(f"/{gpu.gpu_name()}", "/CPU:0") <= gpu.TOLERANCE


def test_the_cnn_rows_time_the_task_train_runs():
    """The engine's trainer of `make_task`: the optimizer keeps the weights' average, as in `train`."""
    from keras_hw2.benchmarks import cnn
    from keras_hw2.cnn.models import AveragingSGD
    from keras_hw2.cnn.train import TrainConfig
    images, labels = cnn.demo_images(16)
    assert isinstance(cnn._trainer("baseline", images, labels, TrainConfig()).model.optimizer, AveragingSGD)
    assert not isinstance(cnn._trainer("baseline", images, labels, TrainConfig(weight_averaging=False)).model.optimizer,
                          AveragingSGD)


def test_the_commands_write_outside_the_source_tree_by_default_and_help_imports_no_tensorflow(python):
    from keras_hw2.benchmarks import OUTPUT_DIR
    from keras_hw2.benchmarks.__main__ import build_parser
    from keras_hw2.benchmarks.gpu_command import build_parser as gpu_parser
    assert build_parser().parse_args([]).output_dir == gpu_parser().parse_args([]).output_dir == OUTPUT_DIR
    assert OUTPUT_DIR.startswith("runs/")  # git-ignored, like every run output
    for command in (["-m", "keras_hw2.benchmarks"], ["tools/gpu_check.py"]):
        code = ("import runpy, sys\nsys.argv = [sys.argv[0], '--help']\ntry:\n"
                f"    runpy.run_{'module' if command[0] == '-m' else 'path'}({command[-1]!r}, run_name='__main__')\n"
                "except SystemExit:\n    pass\nprint('imported:', 'tensorflow' in sys.modules)")
        done = python("-c", code)
        assert "usage: " in done.stdout and done.stdout.splitlines()[-1] == "imported: False", done.stdout + done.stderr
        done = python(*command, "--repeats", "0")
        assert (done.returncode, done.stderr.splitlines()) == (2, [
            f"error: {'python -m keras_hw2.benchmarks' if command[0] == '-m' else 'python tools/gpu_check.py'}: "
            "--repeats must be an integer >= 1. Received: --repeats=0 (see --help)"])


@pytest.mark.slow
def test_gpu_checks_run_on_the_cpu_with_tiny_sizes():
    from keras_hw2.benchmarks import gpu
    from keras_hw2.p2g.train import load_corpus
    corpus, _ = load_corpus(None)
    corpus = {split: pairs[:128] for split, pairs in corpus.items()}
    images, labels = gpu.cnn.demo_images(32)
    rows, checks = gpu.run_checks("/CPU:0", 1, corpus, images, labels, decode_words=8)
    cnn = [f"cnn_{model}_training{variant}" for variant in ("", "_plain_sgd") for model in ("baseline", "batchnorm")]
    mixed = [f"{name}_mixed_float16" for name in cnn]
    assert [r.name for r in rows] == [*(f"{name}_float32" for name in cnn),
                                      *(mixed if checks["mixed_float16_trains"] else []),
                                      "p2g_epoch_attention", "p2g_epoch_no_attention", "greedy_batch"]
    assert {k: v for k, v in checks.items() if k != "mixed_float16_trains"} == {
        "masks_right_padded": True, "cudnn_lstm_runs": None, "hopfield_max_difference": 0.0,
        "hopfield_within_tolerance": True, "export_matches_cpu": True}


@dataclasses.dataclass
class _TinyConfig:
    epochs: int = 1
    seed: int = 0
    deterministic: bool = False
    strategy: str = "default"
    jit_compile: bool = False


def _tiny_task(config, calls):
    """A dense layer on 16 points whose validation begins with 0.3 s of sleep (a task callback), counting epochs."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras_hw2 import training

    class Slow(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            time.sleep(0.3)

        def on_epoch_end(self, epoch, logs=None):
            calls.append(epoch)

    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")

    def build_model():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        return model

    return training.Task(
        build_model=build_model, monitor="val_loss", mode="min",
        loss=lambda labels, logits: keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
        train_data=lambda seed: tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
        validation_data=tf.data.Dataset.from_tensor_slices((x, y)).batch(8), callbacks=lambda model: [Slow()])


def test_a_whole_epoch_is_timed_with_its_validation_after_one_untimed_epoch():
    from keras_hw2.benchmarks.epochs import whole_epoch_timing
    calls = []
    timing = whole_epoch_timing("demo", _TinyConfig(), lambda config: _tiny_task(config, calls), repeats=2)
    assert calls == [0, 1, 2]  # 1 untimed + 2 timed epochs, through the engine's train
    assert len(timing.wall) == len(timing.cpu) == 2
    assert all(0.3 <= seconds < 30 for seconds in timing.wall)  # each includes its validation's 0.3 s


def test_the_import_floor_is_measured_in_a_fresh_process():
    """The child's own high-water mark after importing TensorFlow, Keras and tensorflow-text: far above an empty
    interpreter's ~0.01 GB (TensorFlow's libraries), far below a training run's."""
    from keras_hw2.benchmarks.rss import peak_rss_row
    row = peak_rss_row("import", repeats=1)
    assert row.name == "import_peak_rss" and row.unit == "GB" and row.reference is None and row.target is None
    (value,) = row.values
    assert 0.2 < value < 4.0
