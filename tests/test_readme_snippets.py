"""The README's Python API snippets run as written (on a tiny CNN run, a tiny ARPAbet p2g run and two images)."""
import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippets():
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """What the snippets name: runs/cnn/bn, runs/p2g/cmu (trained on the embedded corpus), two images."""
    from keras_hw2.cnn.models import build_model
    from keras_hw2.p2g import cmudict_corpus
    from keras_hw2.p2g.data import build_vocabularies
    from keras_hw2.p2g.models import Seq2Seq

    tmp_path = tmp_path_factory.mktemp("readme")
    (tmp_path / "runs" / "cnn" / "bn").mkdir(parents=True)
    build_model(batch_norm=True).save(tmp_path / "runs" / "cnn" / "bn" / "best.keras")
    source, target = build_vocabularies(cmudict_corpus.load_cmudict_corpus()["train"])
    model = Seq2Seq(source.tokens, target.tokens, units=4)
    model.build(((None, None), (None, None)))
    (tmp_path / "runs" / "p2g" / "cmu").mkdir(parents=True)
    model.save(tmp_path / "runs" / "p2g" / "cmu" / "best.keras")
    rng = np.random.default_rng(0)
    (tmp_path / "street.jpg").write_bytes(tf.io.encode_jpeg(rng.integers(0, 256, (150, 150, 3), "uint8")).numpy())
    (tmp_path / "forest.png").write_bytes(tf.io.encode_png(rng.integers(0, 256, (64, 80, 3), "uint8")).numpy())
    return tmp_path


@pytest.fixture
def workdir(files, monkeypatch):
    monkeypatch.chdir(files)
    return files


def _run(code) -> list:
    assert len(code.splitlines()) < 15
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    return out.getvalue().splitlines()


def test_the_python_api_section_has_one_snippet_per_task():
    snippets = _snippets()
    assert len(snippets) == 2
    assert "from keras_hw2.cnn import" in snippets[0] and "from keras_hw2.p2g import" in snippets[1]


def test_cnn_snippet_classifies_image_files(workdir):
    lines = _run(_snippets()[0])
    assert [line.split(" ", 1)[0] for line in lines] == ["street.jpg", "forest.png"]
    classes = eval(lines[0].split(" ", 1)[1])  # the printed list of (class, probability) pairs
    assert len(classes) == 2 and classes[0][1] >= classes[1][1] and 0 < sum(p for _, p in classes) <= 1


def test_p2g_snippet_spells_arpabet_phoneme_strings(workdir):
    lines = _run(_snippets()[1])
    assert [line.split(" -> ")[0] for line in lines[:3]] == ["K AE T", "F OW N IY M", "D AO G"]
    assert len(eval(lines[3])) == 3


DATA_FLAGS = re.compile(r"--(?:data|data-cnn|data-p2g|p2g-data) ([^\s`\]]+)")


def test_every_data_path_the_readme_names_exists_or_is_a_placeholder():
    """A newcomer can paste every command: its data is the shared course data or an obvious placeholder."""
    from conftest import SHARED_DATA

    named = DATA_FLAGS.findall(README.read_text(encoding="utf-8"))
    assert len(named) >= 10
    for path in named:
        if re.search(r"[A-Z]{3}|<", path):  # PATH, DIR, FILE.tsv|DIR, <file>
            continue
        assert path.startswith("../shared/data/"), f"the README names {path}, which no reader has"
        if SHARED_DATA.is_dir():
            assert (SHARED_DATA.parent.parent / path[3:]).exists(), path
