"""Bad input to the serving client, to served models and to exports: one line, the right exit status, nothing written.

- The client refuses, before sending, input that does not fit the signature
  (exit status 2, the field named); it reads the signatures from
  ``--export-dir`` here, so no server is involved.
- A served model rejects out-of-range decoding arguments with InvalidArgument
  naming the argument (the client prints it, exit status 2) and spells empty,
  unknown and very long inputs without failing.
- An export refuses while another process exports the same model, removes
  stale temporaries and cleans up after SIGINT/SIGTERM.
"""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from serving_standins import grpc_server, make_exports, rest_server

from keras_hw2.cli import run_main
from keras_hw2.errors import InputError
from keras_hw2.export import export_saved_model
from keras_hw2.locks import DirectoryLock
from keras_hw2.p2g.decoding import MAX_LENGTH
from keras_hw2.serving import signatures
from keras_hw2.serving.__main__ import main
from keras_hw2.serving.client import RestClient


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return make_exports(tmp_path_factory)


@pytest.fixture(scope="module")
def servers(exports):
    models = {"cnn_baseline": {1: exports["cnn"]}, "p2g": {1: exports["p2g"]}}
    with rest_server(models) as rest, grpc_server(models) as grpc:
        yield {"rest": rest[0], "grpc": grpc[0]}


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


NUCLEUS = ["--signature", "nucleus", "--strings", "k æ t"]
CLIENT_CASES = [
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=99999999999", "--param", "seed=1"],
     "--param num_samples must be an integer from -2147483648 to 2147483647 (int32). "
     "Received: --param num_samples=99999999999"),
    ("p2g", [*NUCLEUS, "--param", "p=nan", "--param", "num_samples=3", "--param", "seed=1"],
     "--param p must be a finite float32 number. Received: --param p=nan"),
    ("p2g", [*NUCLEUS, "--param", "p=inf", "--param", "num_samples=3", "--param", "seed=1"],
     "Received: --param p=inf"),
    ("p2g", [*NUCLEUS, "--param", "p=1e39", "--param", "num_samples=3", "--param", "seed=1"],
     "--param p must be a finite float32 number"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=1.5"],
     "--param seed must be an integer (int64). Received: --param seed=1.5"),
    ("p2g", [*NUCLEUS, "--param", "p"], "--param must be NAME=VALUE. Received: --param p"),
    ("p2g", [*NUCLEUS, "--param", "top_p=0.9"], "--param top_p: the signature has no input 'top_p'"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9"],
     "missing ['num_samples', 'seed'], unknown none (scalars are set with --param NAME=VALUE)"),
    ("p2g", [*NUCLEUS, "--param", "phonemes=k"],
     "--param phonemes: sets scalars only, but the signature takes phonemes string (batch_size)"),
    ("p2g", [*NUCLEUS, "--param", "p=0.9", "--param", "num_samples=3", "--param", "seed=1", "--format", "instances"],
     "--format=instances needs inputs of one batch size"),
    ("p2g", ["--signature", "greedy", "--strings", "k"],
     "no signature 'greedy'; available: beam_search, nucleus, serving_default"),
    ("p2g", ["--images", "{small}"], "phonemes string (batch_size) is a string input but not one for encoded images"),
    ("p2g", ["--input-name", "spelling", "--strings", "k"], "--input-name=spelling: the signature has no such input"),
    ("cnn", ["--strings", "k æ t"], "signature input images uint8 (batch_size, 48, 48, 3) takes uint8, not strings"),
    ("cnn", ["--signature", "serve_image_bytes", "--strings", "x"],
     "image_bytes string (batch_size) takes encoded image files; use --images"),
    ("cnn", ["--images", "{missing}"], "missing.png: no such file"),
    ("cnn", ["--signature", "serve_image_bytes", "--images", "{text}"], "notes.txt: cannot be decoded as an image"),
    ("cnn", ["--export-dir", "{root}", "--images", "{small}"], "saved_model.pb: no SavedModel here"),
    ("cnn", ["--name", "../p2g", "--images", "{small}"], "--name must be a model name of letters, digits"),
]


@pytest.mark.parametrize("model, args, message", CLIENT_CASES)
def test_the_client_refuses_input_that_does_not_fit_the_signature(exports, tmp_path, capsys, model, args, message):
    (tmp_path / "notes.txt").write_text("not an image")
    files = {"small": exports["small"], "missing": str(tmp_path / "missing.png"), "text": str(tmp_path / "notes.txt"),
             "root": str(exports["root"])}
    name = "cnn_baseline" if model == "cnn" else "p2g"
    # A host that cannot exist and port 9 (discard): reaching the network would fail differently.
    argv = ["predict", "--name", name, "--export-dir", str(exports[model]), "--host", "no-such-host.invalid",
            "--port", "9", *[a.format(**files) for a in args]]
    code = run_main(main, argv)
    err = capsys.readouterr().err
    assert (code, err.count("\n")) == (2, 1), err
    assert err.startswith("error: ") and message in err, err


def test_models_config_without_models_is_refused_and_writes_nothing(tmp_path, capsys):
    assert run_main(main, ["config", "--models-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: holds no exported model (<name>/<version>/saved_model.pb)\n"
    assert run_main(main, ["config", "--models-dir", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- served: out-of-range arguments are InvalidArgument naming the argument -------------------------------------

BEAM = ["--signature", "beam_search", "--strings", "k æ t"]
SAMPLE = ["--signature", "nucleus", "--strings", "k æ t", "--param", "seed=1"]
SERVED_CASES = [
    ([*BEAM, "--param", "num_beams=0", "--param", "length_penalty=1"],
     "num_beams must be an integer from 1 to 64. Received: num_beams=] [0]"),
    ([*BEAM, "--param", "num_beams=65", "--param", "length_penalty=1"], "Received: num_beams=] [65]"),
    ([*BEAM, "--param", "num_beams=3", "--param", "length_penalty=-1"],
     "length_penalty must be a finite number >= 0. Received: length_penalty=] [-1]"),
    ([*SAMPLE, "--param", "p=0", "--param", "num_samples=3"], "p must be in (0, 1]. Received: p=] [0]"),
    ([*SAMPLE, "--param", "p=1.5", "--param", "num_samples=3"], "p must be in (0, 1]. Received: p=] [1.5]"),
    ([*SAMPLE, "--param", "p=0.5", "--param", "num_samples=0"],
     "num_samples must be an integer from 1 to 100. Received: num_samples=] [0]"),
    ([*SAMPLE, "--param", "p=0.5", "--param", "num_samples=101"], "Received: num_samples=] [101]"),
]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("args, message", SERVED_CASES)
def test_the_served_model_rejects_decoding_arguments_out_of_range(servers, capsys, protocol, args, message):
    code = run_main(main, ["predict", "--name", "p2g", "--protocol", protocol, "--host", "127.0.0.1",
                           "--port", str(servers[protocol]), *args])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1], err
    assert ("HTTP 400: assertion failed" if protocol == "rest" else "gRPC INVALID_ARGUMENT: assertion") in err[-1]


def test_an_unknown_model_is_reported_by_the_server(servers, capsys):
    code = run_main(main, ["metadata", "--name", "rnn", "--host", "127.0.0.1", "--port", str(servers["rest"])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.endswith("/v1/models/rnn/metadata: HTTP 404: Servable not found for request: Latest(rnn)\n")


def test_empty_unknown_and_very_long_inputs_are_spelled(servers, capsys):
    words = ["", "zz qq", " ".join(["k"] * 10_000)]
    code = run_main(main, ["predict", "--name", "p2g", "--host", "127.0.0.1", "--port", str(servers["rest"]),
                           "--strings", *words])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 3
    assert all(0 <= len(line.split('"spellings": "', 1)[1].split('"')[0]) <= MAX_LENGTH for line in out)


def test_an_empty_batch_gives_an_empty_result(servers, exports):
    client = RestClient("127.0.0.1", servers["rest"], row_format=False)
    found = signatures.read_export(exports["p2g"])
    empty = np.array([], dtype=object)
    assert client.predict("p2g", "serving_default", found["serving_default"], {"phonemes": empty}) == {
        "spellings": [], "log_probs": []}
    beam = {"phonemes": empty, "num_beams": np.array(3, np.int32), "length_penalty": np.array(1.0, np.float32)}
    assert client.predict("p2g", "beam_search", found["beam_search"], beam) == {"spellings": [], "log_probs": []}


# -- exports ---------------------------------------------------------------------------------------------------

def _write_tiny(path):
    module = tf.Module()
    module.f = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, path, signatures=module.f)


def test_a_second_export_of_the_same_model_is_refused_naming_the_holder(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    with DirectoryLock(tmp_path, what="export of m", lock_file=".m.lock"):
        before = _snapshot(tmp_path)
        with pytest.raises(InputError, match=rf"this export of m is in use by another process \(pid {os.getpid()}\)"):
            export_saved_model(_write_tiny, "m", root=tmp_path)
        assert _snapshot(tmp_path) == before


def test_stale_temporaries_are_removed_when_an_export_starts(tmp_path):
    stale = tmp_path / "m" / ".tmp-1-deadbeef"
    (stale / "variables").mkdir(parents=True)
    assert export_saved_model(_write_tiny, "m", root=tmp_path) == tmp_path / "m" / "1"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]


INTERRUPTED_EXPORT = """
import sys, time
from pathlib import Path
from keras_hw2.export import export_saved_model

def slow_write(path):
    Path(path).mkdir()
    (Path(path) / "half-written").write_text("x")
    print("writing", flush=True)
    time.sleep(600)

for _ in range(2):
    try:
        export_saved_model(slow_write, "m", root=sys.argv[1])
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", flush=True)
"""


def test_sigint_and_sigterm_during_an_export_remove_its_temporary(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INTERRUPTED_EXPORT), str(tmp_path)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        lines = []
        for sent in (signal.SIGINT, signal.SIGTERM):
            assert child.stdout.readline().strip() == "writing"
            child.send_signal(sent)
            lines.append(child.stdout.readline().strip())
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
    assert lines == [f"interrupted: export to {tmp_path / 'm' / '1'} stopped; nothing was written ({name})"
                     for name in ("SIGINT", "SIGTERM")]
    assert not (tmp_path / "m").exists()
