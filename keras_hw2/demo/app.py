"""The demo page: a Gradio Blocks app with the Scenes, Spelling and Hopfield tabs, served on this machine only.

Each tab calls its module (`keras_hw2.demo.scenes`, `spelling`, `retrieval`);
a bad input there becomes a `gr.Error` whose message the tab shows (`_answer`),
and the server keeps answering. Privacy: analytics are off (set before Gradio is
imported), there is no share link, the server binds 127.0.0.1 unless told
otherwise, and the page's theme uses the browser's own fonts, so the page loads
nothing from the internet.

The API names of the events (for `gradio_client`): ``/classify``, ``/spell``,
``/new_query``, ``/step``, ``/run``.

Load limits (Gradio's own queue and upload check; docs/reliability.md): each event
computes at most `CONCURRENCY` requests at once, at most `QUEUE_SIZE` more wait in
the queue and a request beyond that is answered at once with Gradio's "Queue is
full" (HTTP 503), never dropped silently; an upload larger than `MAX_UPLOAD` is
refused by Gradio with HTTP 413 before any of it is stored or decoded.
"""
import functools
import os
import tempfile

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio's first import, which reads it

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from keras_hw2.demo import retrieval, scenes, spelling  # noqa: E402
from keras_hw2.errors import InputError  # noqa: E402

TITLE = "keras_hw2 demo"
CONCURRENCY = 2  # requests of one event computed at once (the models are small; more would only share the cores)
QUEUE_SIZE = 64  # requests that may wait, all events together; more are refused ("Queue is full")
MAX_UPLOAD = 20 * 1024 * 1024  # bytes: the largest upload (Gradio's max_file_size); a big photo fits
# The browser's own fonts: the default theme would fetch Inter and IBM Plex Mono from a font CDN.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def _answer(function):
    """Run a tab's handler; a bad input (or any failure) becomes a `gr.Error` the tab shows, never a traceback."""
    @functools.wraps(function)
    def handler(*args):
        try:
            return function(*args)
        except (InputError, ValueError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # the page must keep answering: say what failed, in one line
            raise gr.Error(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}", print_exception=False) from None
    return handler


def _integer(value):
    """A slider's or number box's value as an int when it is a whole number (sliders send floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def build_app(cnn, p2g, workdir=None) -> gr.Blocks:
    """The page for two `keras_hw2.demo.models.LoadedModel` s (a CNN and a speller).

    Args:
        workdir: where example images and heatmaps are written (default: a new temporary directory).
    """
    workdir = workdir or tempfile.mkdtemp(prefix="keras_hw2_demo_")
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\nThe homework's three models on this machine: nothing leaves it.")
        with gr.Tab("Scenes"):
            _scenes_tab(cnn, workdir)
        with gr.Tab("Spelling"):
            _spelling_tab(p2g, workdir)
        with gr.Tab("Hopfield"):
            _hopfield_tab()
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    app.workdir = workdir
    return app


def _about(model) -> str:
    return f"Answered by **{model.source}**" + (f" ({model.figures})" if model.figures else "")


def _scenes_tab(cnn, workdir) -> None:
    with gr.Row():
        with gr.Column():
            upload = gr.File(label="image (any size: JPEG, PNG, BMP, GIF)", file_types=["image"], type="filepath",
                             elem_id="scene-upload")
            top_k = gr.Slider(1, 6, value=3, step=1, label="top-k classes")
            button = gr.Button("Classify", variant="primary", elem_id="scene-classify")
        with gr.Column():
            pixels = gr.Image(label="what the model receives (48 x 48, enlarged)", type="numpy", format="png",
                              interactive=False, elem_id="scene-pixels")
            classes = gr.Label(label="top-k classes", elem_id="scene-classes")
            gr.Markdown(_about(cnn), elem_id="scene-model")
    examples = scenes.write_examples(workdir)
    gr.Examples([[path] for path, _ in examples], inputs=[upload], example_labels=[label for _, label in examples],
                label="examples: the project's synthetic demo images (keras_hw2.cnn.synthetic)")

    @_answer
    def classify(path, k):
        return scenes.classify_file(cnn.model, path, _integer(k))

    def classify_new(path, k):  # a new upload or a picked example; clearing the file clears the answer
        return (None, None) if path is None else classify(path, k)

    button.click(classify, [upload, top_k], [pixels, classes], api_name="classify")
    upload.change(classify_new, [upload, top_k], [pixels, classes], api_name=False)


def _spelling_tab(p2g, workdir) -> None:
    speller = p2g.model
    symbols = spelling.alphabet(speller)
    gr.Markdown(f"{_about(p2g)}. Its alphabet: {len(symbols)} phoneme symbols (click one to add it):")
    alphabet = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[s] for s in symbols],
                          samples_per_page=len(symbols) or 1, label="alphabet", elem_id="p2g-alphabet")
    with gr.Row():
        with gr.Column():
            phonemes = gr.Textbox(label="phonemes, separated by spaces", elem_id="p2g-phonemes")
            unknown = gr.Markdown("", elem_id="p2g-unknown")
            method = gr.Radio(list(spelling.METHODS), value="greedy", label="decoding")
            with gr.Row():
                beams = gr.Slider(1, spelling.MAX_BEAMS, value=5, step=1, label="beam width n")
                p = gr.Number(0.9, label="nucleus p, in (0, 1]")
                samples = gr.Slider(1, spelling.MAX_SAMPLES, value=5, step=1, label="nucleus samples k")
                seed = gr.Number(0, precision=0, label="seed")
            button = gr.Button("Spell", variant="primary", elem_id="p2g-spell")
        with gr.Column():
            chosen = gr.Textbox(label="spelling", interactive=False, elem_id="p2g-spelling")
            table = gr.Dataframe(headers=["decoding", "spelling", "log-probability"], interactive=False,
                                 label="spellings and their log-probabilities")
            heatmap = gr.Image(label="attention of the chosen spelling" if speller.model.use_attention
                               else "attention: this model has none", type="filepath", interactive=False,
                               elem_id="p2g-attention")
    words = spelling.examples(speller)
    if words:
        gr.Examples([[word] for word in words], inputs=[phonemes], label="examples")

    def add_symbol(text, sample):
        return f"{text.strip()} {sample[0]}".strip()

    def flag(text):
        unknown_ = spelling.unknown_symbols(speller, text or "")
        return f"**not in the alphabet:** {' '.join(unknown_)}" if unknown_ else ""

    @_answer
    def spell(text, how, n, p_, k, seed_):
        result = spelling.spell(speller, text, how, _integer(n), p_, _integer(k), _integer(seed_))
        image = spelling.attention_png(speller, text, result["spelling"], workdir) if result["spelling"] else None
        return result["spelling"], pd.DataFrame(result["rows"], columns=table.headers), image

    alphabet.click(add_symbol, [phonemes, alphabet], [phonemes], api_name=False)
    phonemes.change(flag, [phonemes], [unknown], api_name=False)
    for event in (button.click, phonemes.submit):
        event(spell, [phonemes, method, beams, p, samples, seed], [chosen, table, heatmap],
              api_name="spell" if event == button.click else False)


def _hopfield_tab() -> None:
    gr.Markdown("Stored patterns X (unit-norm rows), a corrupted query q, and the CCCP update "
                "q &larr; X<sup>T</sup> softmax(&beta; X q), which never increases the energy E(q).")
    with gr.Row():
        with gr.Column():
            pattern_set = gr.Radio(list(retrieval.PATTERN_SETS), value="bitmaps", label="stored patterns")
            target = gr.Dropdown(list(retrieval.BITMAPS), value="H", label="pattern to corrupt (bitmaps)")
            num_random = gr.Slider(2, 64, value=8, step=1, label="random patterns (10 x 10)")
            index = gr.Slider(1, 64, value=1, step=1, label="random pattern to corrupt")
            corruption = gr.Radio(list(retrieval.CORRUPTIONS), value="mask", label="corruption")
            level = gr.Slider(0, 0.95, value=0.5, step=0.05, label="corruption level (mask: share of pixels; "
                                                                   "noise: noise norm)")
            beta = gr.Slider(0.5, 100, value=8, step=0.5, label="beta (inverse temperature)")
            seed = gr.Number(0, precision=0, label="seed")
            with gr.Row():
                reset = gr.Button("New query", elem_id="hop-new")
                step = gr.Button("Step", elem_id="hop-step")
                run = gr.Button("Run", variant="primary", elem_id="hop-run")
        with gr.Column():
            gr.Markdown("The stored pattern, the query q0 and the last states:")
            strip = gr.Gallery(show_label=False, columns=5, height="auto", object_fit="contain", format="png",
                               allow_preview=False, interactive=False, elem_id="hop-states")
            curve = gr.LinePlot(x="step", y="energy", title="energy E(q_t) per step", elem_id="hop-energy")
            status = gr.Textbox(label="retrieval", interactive=False, elem_id="hop-status")
    trajectory = gr.State(None)
    controls = [pattern_set, target, num_random, index, corruption, level, beta, seed]

    def create(pattern_set_, target_, num_random_, index_, corruption_, level_, beta_, seed_):
        chosen = target_ if pattern_set_ == "bitmaps" else _integer(index_) - 1
        return retrieval.new_query(pattern_set_, chosen, corruption_, level_, beta_, _integer(num_random_),
                                   _integer(seed_))

    def show(state):
        frame = pd.DataFrame({"step": range(len(state.energies)), "energy": state.energies})
        return state, retrieval.tiles(state), frame, retrieval.summary(state)

    @_answer
    def new_query(*values):
        return show(create(*values))

    def advance(move):
        @_answer
        def handler(state, *values):
            state = state if state is not None else create(*values)
            return show(move(state, values[controls.index(beta)]))
        handler.__name__ = move.__name__
        return handler

    outputs = [trajectory, strip, curve, status]
    reset.click(new_query, controls, outputs, api_name="new_query")
    step.click(advance(retrieval.step), [trajectory, *controls], outputs, api_name="step")
    run.click(advance(retrieval.run), [trajectory, *controls], outputs, api_name="run")


def start(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860) -> str:
    """Serve `app` in a background thread on ``host:port``, locally only, uploads up to `MAX_UPLOAD`; returns
    its URL.

    Raises:
        InputError: the port is taken or the host cannot be bound (the message names the flag).
    """
    try:
        app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
                   theme=THEME, ssr_mode=False, mcp_server=False, pwa=False, allowed_paths=[app.workdir],
                   max_file_size=MAX_UPLOAD)
    except OSError as e:
        raise InputError(f"cannot serve on {host}:{port} ({(str(e).splitlines() or [''])[0]}); "
                         f"choose another --port or --host. Received: --host={host} --port={port}") from None
    return f"http://{host}:{port}/"
