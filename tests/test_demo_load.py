"""The demo page under load (issue 27; docs/reliability.md): a burst of concurrent requests (12 in the default
suite, 50 under ``slow``), a full queue, an oversized upload.

The app is served on 127.0.0.1 in this process with the shipped presets (as ``python -m keras_hw2 demo``
serves it) and driven with gradio_client. Its limits are Gradio's own (`keras_hw2.demo.app`: `CONCURRENCY`
requests of an event computed at once, `QUEUE_SIZE` waiting, uploads up to `MAX_UPLOAD`).
"""
import threading
import time

import pytest

from keras_hw2.launch import free_port

gradio_client = pytest.importorskip("gradio_client", reason="the demo extra is not installed (pip install .[demo])")
pytest.importorskip("gradio", reason="the demo extra is not installed (pip install .[demo])")

BURST = 50
PATIENT = {"timeout": 600}  # httpx's default 5 s is too short for a request that waits in a long queue


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``{"url", "p2g"}``: the app with the default presets on a free port of 127.0.0.1."""
    from keras_hw2.demo.app import build_app, start
    from keras_hw2.demo.models import load_models

    cnn, p2g = load_models()
    app = build_app(cnn, p2g, workdir=str(tmp_path_factory.mktemp("demo_load")))
    url = start(app, "127.0.0.1", free_port())
    try:
        yield {"url": url, "p2g": p2g}
    finally:
        app.close(verbose=False)


@pytest.fixture
def words(served):
    """`BURST` distinct words of the embedded cmudict corpus, in the speller's alphabet."""
    from keras_hw2.demo.spelling import unknown_symbols
    from keras_hw2.p2g.cmudict_corpus import load_cmudict_corpus

    speller = served["p2g"].model
    chosen = list(dict.fromkeys(pair.phonemes for pair in load_cmudict_corpus()["valid"]
                                if not unknown_symbols(speller, pair.phonemes)))
    return chosen[:BURST]


class _Counting:
    """Wraps `keras_hw2.demo.spelling.spell`: counts the calls in flight (the most at once in `peak`); with
    `gate`, each call waits for it to open."""

    def __init__(self, spell, gate=None):
        self.spell, self.gate = spell, gate
        self.lock, self.running, self.peak, self.entered = threading.Lock(), 0, 0, 0

    def __call__(self, *args):
        with self.lock:
            self.running += 1
            self.entered += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.gate is not None:
                assert self.gate.wait(timeout=120)
            time.sleep(0.01)  # long enough for the next requests to arrive while this one runs
            return self.spell(*args)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("burst", [12, pytest.param(BURST, marks=pytest.mark.slow)])
def test_a_burst_of_concurrent_requests_is_answered_exactly_as_serial_ones(served, words, monkeypatch, burst):
    from keras_hw2.demo import app, spelling

    speller, words = served["p2g"].model, words[:burst]
    expected = [spelling.spell(speller, word, "greedy") for word in words]  # serially, in this thread
    counting = _Counting(spelling.spell)
    monkeypatch.setattr(spelling, "spell", counting)
    client = gradio_client.Client(served["url"], verbose=False, max_workers=2 * burst, httpx_kwargs=PATIENT)
    jobs = [client.submit(word, "greedy", 5, 0.9, 5, 0, api_name="/spell") for word in words]
    answers = [job.result(timeout=600) for job in jobs]  # none dropped: each job has its answer
    assert len(answers) == burst == counting.entered
    for (spelled, table, _), want in zip(answers, expected):
        assert spelled == want["spelling"] and table["data"] == want["rows"]
    assert 1 <= counting.peak <= app.CONCURRENCY  # never more at once than the limit (how many overlap is timing)


def test_requests_beyond_the_queue_are_refused_at_once_and_the_queued_ones_answered(served, words, monkeypatch):
    from keras_hw2.demo import app, spelling

    gate = threading.Event()
    counting = _Counting(spelling.spell, gate)
    monkeypatch.setattr(spelling, "spell", counting)
    client = gradio_client.Client(served["url"], verbose=False, max_workers=app.QUEUE_SIZE + 16,
                                  httpx_kwargs=PATIENT)
    word = words[0]
    try:
        running = [client.submit(word, "greedy", 5, 0.9, 5, 0, api_name="/spell") for _ in range(app.CONCURRENCY)]
        deadline = time.monotonic() + 120
        while counting.entered < app.CONCURRENCY and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counting.entered == app.CONCURRENCY  # both slots taken: everything else now waits in the queue
        extra = 3
        waiting = [client.submit(word, "greedy", 5, 0.9, 5, 0, api_name="/spell")
                   for _ in range(app.QUEUE_SIZE + extra)]
        refused = []
        while len(refused) < extra and time.monotonic() < deadline:
            refused = [job for job in waiting if job.done() and job.exception() is not None]
            time.sleep(0.05)
    finally:
        gate.set()
    assert len(refused) == extra, f"{len(refused)} of {len(waiting)} refused"
    for job in refused:
        assert isinstance(job.exception(), gradio_client.utils.QueueError) and "Queue is full" in str(
            job.exception())
    answered = [job.result(timeout=300) for job in running + waiting if job not in refused]
    assert len(answered) == app.CONCURRENCY + app.QUEUE_SIZE
    assert {spelled for spelled, _, _ in answered} == {spelling.spell(served["p2g"].model, word)["spelling"]}


def test_an_upload_larger_than_the_limit_is_refused_and_the_page_keeps_answering(served, words, tmp_path):
    import httpx

    from keras_hw2.demo import app

    limit = app.MAX_UPLOAD
    big = tmp_path / "big.jpg"
    with open(big, "wb") as file:  # sparse: no disk space used
        file.truncate(limit + 1)
    client = gradio_client.Client(served["url"], verbose=False, httpx_kwargs=PATIENT)
    assert client.config["max_file_size"] == limit  # what the page itself shows and checks before uploading
    with open(big, "rb") as file:
        response = httpx.post(f"{served['url']}gradio_api/upload", files={"files": ("big.jpg", file)}, timeout=120)
    assert response.status_code == 413 and f"{limit} bytes" in response.text, response.text[:300]
    with pytest.raises(Exception, match="413|[Mm]aximum"):
        client.predict(gradio_client.handle_file(str(big)), 3, api_name="/classify")
    spelled, _, _ = client.predict(words[0], "greedy", 5, 0.9, 5, 0, api_name="/spell")
    assert spelled  # still answering
