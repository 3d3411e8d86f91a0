"""The demo page (`keras_hw2.demo`): served on 127.0.0.1 inside the test, driven by gradio_client and a real browser.

One app per module: two 1-epoch runs (a CNN on a tiny synthetic npz, an attention
speller on 300 embedded cmudict words) trained through the CLI in this process.
The browser test drives Debian's chromium (``/usr/bin/chromium``) through
Playwright and writes a screenshot of each tab into ``docs/demo/``; every request
the page makes to a host other than 127.0.0.1 is aborted and recorded, and an audit
hook records every socket this process connects, so the tests also prove that
nothing is fetched from the internet.
"""
import contextlib
import io
import re
import signal
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from keras_hw2.launch import free_port

gradio_client = pytest.importorskip("gradio_client", reason="the demo extra is not installed (pip install .[demo])")
pytest.importorskip("gradio", reason="the demo extra is not installed (pip install .[demo])")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "docs" / "demo"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CONNECTIONS = []  # (host, port) of every socket.connect of this process to an internet address


def _record_connections(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOCAL_HOSTS:
        CONNECTIONS.append(args[1][:2])


sys.addaudithook(_record_connections)  # audit hooks cannot be removed; this one only records


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{"cnn": run dir, "p2g": run dir}``: 1-epoch runs trained by the CLIs' own `main` in this process."""
    from keras_hw2 import cli
    from keras_hw2.cnn import write_synthetic_npz
    from keras_hw2.cnn.__main__ import main as cnn_main
    from keras_hw2.p2g.__main__ import main as p2g_main
    from keras_hw2.p2g.cmudict_corpus import load_cmudict_corpus

    tmp = tmp_path_factory.mktemp("demo_runs")
    npz = write_synthetic_npz(tmp / "scenes.npz", num_per_class=8)
    corpus, words = load_cmudict_corpus(), tmp / "words"
    words.mkdir()
    for split, count in (("train", 300), ("valid", 30)):
        (words / f"{split}.tsv").write_text("".join(f"{pair.phonemes}\t{pair.spelling}\n"
                                                    for pair in corpus[split][:count]), encoding="utf-8")
    common = ["--epochs", "1", "--runs-dir", str(tmp), "--quiet"]
    assert cli.run_main(cnn_main, ["train", "--model", "batchnorm", "--data", str(npz), "--run-name", "cnn",
                                   *common]) == 0
    assert cli.run_main(p2g_main, ["train", "--data", str(words), "--attention", "--units", "16",
                                   "--batch-size", "32", "--run-name", "p2g", *common]) == 0
    return {"cnn": tmp / "cnn" / "cnn", "p2g": tmp / "p2g" / "p2g"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on 127.0.0.1 (one per module) with the shipped default presets, as `python -m keras_hw2 demo`
    serves it: ``{"url", "client", "cnn", "p2g", "workdir"}``."""
    from keras_hw2.demo.app import build_app, start
    from keras_hw2.demo.models import load_models

    cnn, p2g = load_models()
    assert (cnn.source, p2g.source) == ("preset intel_batchnorm_48", "preset cmudict_attention")
    workdir = tmp_path_factory.mktemp("demo_app")
    app = build_app(cnn, p2g, workdir=str(workdir))
    url = start(app, "127.0.0.1", free_port())
    CONNECTIONS.clear()
    try:
        yield {"url": url, "client": gradio_client.Client(url, verbose=False), "cnn": cnn, "p2g": p2g,
               "workdir": workdir}
    finally:
        app.close(verbose=False)


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory):
    """A 300 x 200 JPEG photo-sized image (a synthetic forest, enlarged), and its pixels as the CNN gets them."""
    from PIL import Image

    from keras_hw2.cnn.images import load_image
    from keras_hw2.cnn.synthetic import generate_images

    images, _ = generate_images(num_per_class=1, seed=3)
    path = tmp_path_factory.mktemp("demo_jpeg") / "forest.jpg"
    Image.fromarray(images[1]).resize((300, 200)).save(path, quality=95)
    return path, load_image(path)


def _huge_png(path, side=20_000) -> Path:
    """A real, valid grey PNG of side x side pixels (all black; 0.4 MB on disk, 400 MB decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor, row = zlib.compressobj(1), bytes(side + 1)  # each row: filter byte 0, then the pixels
    data = b"".join([*(compressor.compress(row) for _ in range(side)), compressor.flush()])
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _image(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- gradio_client: each tab's main function end to end --------------------------------------------------------

def test_scenes_tab_classifies_a_jpeg_as_the_library_does(served, jpeg):
    from keras_hw2.cnn import classify
    from keras_hw2.demo.scenes import ZOOM

    path, pixels = jpeg
    shown, label = served["client"].predict(gradio_client.handle_file(str(path)), 3, api_name="/classify")
    expected = classify(served["cnn"].model, pixels[np.newaxis], top_k=3)[0]
    assert label["label"] == expected[0][0]
    assert [c["label"] for c in label["confidences"]] == [name for name, _ in expected]
    np.testing.assert_allclose([c["confidence"] for c in label["confidences"]], [p for _, p in expected],
                               rtol=1e-5)
    assert _image(shown).shape == (48 * ZOOM, 48 * ZOOM, 3)
    np.testing.assert_array_equal(_image(shown)[::ZOOM, ::ZOOM], pixels)  # the 48x48 input, each pixel a block


def test_spelling_tab_decodes_with_the_speller(served):
    speller, client = served["p2g"].model, served["client"]
    word = "K AE T"
    spelling, table, heatmap = client.predict(word, "greedy", 5, 0.9, 5, 0, api_name="/spell")
    greedy = speller.greedy([word])
    assert spelling == greedy["spellings"][0].numpy().decode() and table["data"][0][0] == "greedy"
    assert table["data"][0][2] == pytest.approx(float(greedy["log_probs"][0]), abs=1e-4)
    assert _image(heatmap).ndim == 3  # the model has attention: a heatmap came back

    spelling, table, _ = client.predict(word, "beam", 3, 0.9, 5, 0, api_name="/spell")
    assert [row[0] for row in table["data"]] == ["beam 3, #1", "beam 3, #2", "beam 3, #3"]  # its n-best list
    beam = speller.beam_search([word], 3)
    for (_, shown, log_prob), expected, expected_log_prob in zip(table["data"], beam["spellings"][0].numpy(),
                                                                 beam["log_probs"][0].numpy()):
        assert shown == expected.decode() and log_prob == pytest.approx(float(expected_log_prob), abs=1e-4)
    assert spelling == table["data"][0][1]

    spelling, table, _ = client.predict(word, "nucleus", 5, 0.8, 4, 7, api_name="/spell")
    samples = speller.sample([word], 0.8, 4, 7)
    assert [row[1] for row in table["data"]] == [s.decode() for s in samples["spellings"][0].numpy()]
    np.testing.assert_allclose([row[2] for row in table["data"]], samples["log_probs"][0].numpy(), atol=1e-4)
    assert spelling == table["data"][0][1]


def test_hopfield_tab_steps_and_runs_to_the_stored_pattern(served):
    from keras_hw2.demo import retrieval

    client, controls = served["client"], ["bitmaps", "X", 8, 1, "mask", 0.6, 16.0, 0]
    _, frame, status = client.predict(*controls, api_name="/new_query")
    assert [row[0] for row in frame["data"]] == [0] and status.startswith("after 0 steps")
    _, frame, status = client.predict(*controls, api_name="/step")  # the state of the new query, one update
    expected = retrieval.step(retrieval.new_query("bitmaps", "X", "mask", 0.6, 16.0), 16.0)
    np.testing.assert_allclose([row[1] for row in frame["data"]], expected.energies, rtol=1e-6)
    states, frame, status = client.predict(*controls, api_name="/run")
    retrieval.run(expected, 16.0)
    energies = [row[1] for row in frame["data"]]
    np.testing.assert_allclose(energies, expected.energies, rtol=1e-6)
    assert all(later <= earlier + 1e-9 for earlier, later in zip(energies, energies[1:]))  # CCCP never climbs
    assert status == retrieval.summary(expected) and "retrieved: X, the stored pattern" in status
    # the states and energies, against the closed forms written out in NumPy
    stored, beta = expected.stored, 16.0
    for state, following in zip(expected.states, expected.states[1:]):
        weights = np.exp(beta * stored @ state - np.max(beta * stored @ state))
        np.testing.assert_allclose(following, stored.T @ (weights / weights.sum()), atol=1e-6)
    for state, energy in zip(expected.states, expected.energies):
        scores = beta * stored @ state
        lse = (np.max(scores) + np.log(np.exp(scores - np.max(scores)).sum())) / beta
        closed_form = -lse + state @ state / 2 + np.log(len(stored)) / beta + 0.5  # max ||x_i||^2 = 1
        assert energy == pytest.approx(closed_form, abs=1e-6)
    steps = range(1, len(energies)) if len(energies) <= 9 else range(len(energies) - 8, len(energies))
    assert [state["caption"] for state in states] == ["stored X", "q0 (query)", *(f"q{t}" for t in steps)]
    assert _image(states[-1]["image"]).shape == (10 * retrieval.PIXEL, 10 * retrieval.PIXEL, 3)


# --- bad input in each tab: a readable message, then a good request still works ------------------------------

BAD_SPELLINGS = {
    "empty": (("", "greedy", 5, 0.9, 5, 0), "no phonemes"),
    "unknown": (("K ZZ AE QQ", "greedy", 5, 0.9, 5, 0), "not in the model's alphabet: ZZ QQ"),
    "p zero": (("K AE T", "nucleus", 5, 0.0, 5, 0), "p must be a finite number in (0, 1]. Received: p=0.0"),
    "p above one": (("K AE T", "nucleus", 5, 1.5, 5, 0), "p must be a finite number in (0, 1]. Received: p=1.5"),
}


@pytest.mark.parametrize("case", BAD_SPELLINGS)
def test_spelling_tab_answers_bad_input_with_a_message(served, case):
    arguments, message = BAD_SPELLINGS[case]
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        served["client"].predict(*arguments, api_name="/spell")
    assert message in str(error.value) and "Traceback" not in str(error.value)
    assert served["client"].predict("K AE T", "greedy", 5, 0.9, 5, 0, api_name="/spell")[0]


@pytest.mark.parametrize("case", ["not an image", "20000 x 20000", "no file"])
def test_scenes_tab_answers_bad_input_with_a_message(served, jpeg, tmp_path, case):
    if case == "not an image":
        upload, message = tmp_path / "holiday.jpg", "holiday.jpg: cannot be decoded as an image"
        upload.write_text("these are not pixels")
    elif case == "20000 x 20000":
        upload = _huge_png(tmp_path / "huge.png")
        message = "huge.png: the image is too large (more than 178 million pixels); at most 50,000,000"
    else:
        upload, message = None, "no image: upload or drop an image file"
    client = served["client"]
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        client.predict(upload and gradio_client.handle_file(str(upload)), 3, api_name="/classify")
    assert message in str(error.value) and "Traceback" not in str(error.value)
    assert client.predict(gradio_client.handle_file(str(jpeg[0])), 1, api_name="/classify")[1]["label"]


def test_the_image_size_limit_reads_the_header(tmp_path):
    from PIL import Image

    from keras_hw2.demo.scenes import MAX_PIXELS, check_image_size
    from keras_hw2.errors import InputError

    Image.new("L", (8000, 6251)).save(tmp_path / "big.png")  # 50,008,000 pixels: just over the limit
    with pytest.raises(InputError, match=r"^big.png: .* \(8000 x 6251 = 50,008,000 pixels\); at most 50,000,000"):
        check_image_size(tmp_path / "big.png")
    Image.new("L", (8000, 6250)).save(tmp_path / "limit.png")  # exactly the limit
    check_image_size(tmp_path / "limit.png")
    assert 8000 * 6250 == MAX_PIXELS
    (tmp_path / "text.png").write_text("not an image")
    check_image_size(tmp_path / "text.png")  # left to load_image, which names the file


# --- the real browser --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser_page(served):
    """Debian's chromium on the app: ``(page, blocked)``; every non-local request is aborted and listed in `blocked`."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the demo extra is not installed")
    blocked = []

    def route(request_route):
        host = re.match(r"^[a-z]+://\[?([^/\]:]+)", request_route.request.url)
        if host and host.group(1) in LOCAL_HOSTS:
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", route)
        page.goto(served["url"])
        page.get_by_text("keras_hw2 demo").first.wait_for(timeout=60_000)
        yield page, blocked
        browser.close()


def _wait_for_images(page, selector: str, count: int = 1) -> None:
    """Wait until `selector` holds at least `count` images and all of them are drawn (before a screenshot)."""
    page.wait_for_function(
        "([selector, count]) => { const images = [...document.querySelectorAll(selector + ' img')];"
        " return images.length >= count && images.every(image => image.complete && image.naturalWidth > 0); }",
        arg=[selector, count], timeout=30_000)


def test_browser_scenes_spelling_hopfield(served, browser_page, jpeg):
    from keras_hw2.cnn import classify

    page, blocked = browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.locator("#scene-upload input[type=file]").set_input_files(str(jpeg[0]))
    expected = classify(served["cnn"].model, jpeg[1][np.newaxis], top_k=1)[0][0][0]
    page.locator("#scene-classes").get_by_text(expected).first.wait_for(timeout=30_000)
    _wait_for_images(page, "#scene-pixels")
    page.screenshot(path=str(SCREENSHOTS / "scenes.png"), full_page=True)

    page.get_by_role("tab", name="Spelling").click()
    page.locator("#p2g-phonemes textarea").fill("K AE T")
    page.locator("#p2g-spell").click()
    spelling = served["p2g"].model.greedy(["K AE T"])["spellings"][0].numpy().decode()
    shown = page.locator("#p2g-spelling textarea")
    page.wait_for_function("element => element.value.length > 0", arg=shown.element_handle(), timeout=30_000)
    assert shown.input_value() == spelling
    _wait_for_images(page, "#p2g-attention")
    page.screenshot(path=str(SCREENSHOTS / "spelling.png"), full_page=True)

    page.get_by_role("tab", name="Hopfield").click()
    page.locator("#hop-run").click()
    status = page.locator("#hop-status textarea")
    page.wait_for_function("element => element.value.startsWith('after')", arg=status.element_handle(),
                           timeout=30_000)
    energy = float(re.search(r"energy (-?\d+\.\d+)", status.input_value()).group(1))
    from keras_hw2.demo import retrieval
    expected_run = retrieval.run(retrieval.new_query("bitmaps", "H", "mask", 0.5, 8.0), 8.0)
    assert energy == pytest.approx(expected_run.energies[-1], abs=1e-4)
    assert "the stored pattern" in status.input_value()
    _wait_for_images(page, "#hop-states", count=10)
    page.locator("#hop-energy canvas, #hop-energy svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)  # the plot's first frame
    page.screenshot(path=str(SCREENSHOTS / "hopfield.png"), full_page=True)
    assert blocked == []  # the page asked nothing of the internet


def test_nothing_was_fetched_from_the_internet(served):
    assert CONNECTIONS == []


# --- the command line ----------------------------------------------------------------------------------------------

def test_help_imports_neither_tensorflow_nor_gradio(python):
    result = python("-X", "importtime", "-m", "keras_hw2", "demo", "--help")
    assert result.returncode == 0 and "--cnn RUN|PRESET" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert not imported & {"tensorflow", "gradio", "keras"}


# Kept open for the whole session: the servers' log handlers (uvicorn's) hold the stream that was sys.stderr
# when they started, and writing to a closed capture stream later would crash the test process.
_STREAMS = []


def test_command_prints_one_line_serves_and_ends_on_ctrl_c_with_130(runs, monkeypatch):
    """`main` in this process; Ctrl-C is raised where the command waits (the real signal: the slow test below)."""
    from keras_hw2 import cli
    from keras_hw2.demo import __main__ as demo_main

    out, err = io.StringIO(), io.StringIO()
    _STREAMS.extend([out, err])
    answers = []

    def wait_then_interrupt():
        url = re.match(r"demo: (\S+) ", out.getvalue()).group(1)
        answers.append(gradio_client.Client(url, verbose=False).predict(
            "bitmaps", "T", 8, 1, "mask", 0.5, 16.0, 0, api_name="/run")[2])
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_main, "wait", wait_then_interrupt)
    port = free_port()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.run_main(demo_main.main, ["--cnn", str(runs["cnn"]), "--p2g", str(runs["p2g"]),
                                               "--port", str(port)])
    assert status == 130 and "retrieved: T, the stored pattern" in answers[0]
    assert out.getvalue().count("\n") == 1 and err.getvalue() == "interrupted\n"
    with socket.socket() as s:  # the server is closed: its port is free again
        s.bind(("127.0.0.1", port))


@pytest.mark.slow
def test_command_serves_one_line_and_ends_on_ctrl_c_with_130(runs):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "keras_hw2", "demo", "--cnn", str(runs["cnn"]),
                                "--p2g", str(runs["p2g"]), "--port", str(port)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith(f"demo: http://127.0.0.1:{port}/ ")
        assert gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "K AE T", "greedy", 5, 0.9, 5, 0, api_name="/spell")[0]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert (line + out).strip() == line.strip()  # one start-up line, nothing more
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--cnn", "--p2g"])
def test_command_refuses_a_missing_run_before_tensorflow_starts(python, runs, tmp_path, flag):
    other = {"--cnn": ["--p2g", str(runs["p2g"])], "--p2g": ["--cnn", str(runs["cnn"])]}[flag]
    result = python("-X", "importtime", "-m", "keras_hw2", "demo", *other, flag, str(tmp_path / "nothing"))
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {flag}: no such run directory or checkpoint")
    assert line.endswith(f"Received: {flag}={tmp_path / 'nothing'}")
    assert "tensorflow" not in result.stderr
