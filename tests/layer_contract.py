"""One layer-contract check for every custom Keras layer, in the spirit of Keras's `run_layer_test`.

`run_layer_test(layer_cls, init_kwargs, input_data, ...)` checks, in order:

1. a symbolic call on `keras.Input`s with an unknown batch size: output structure, shapes, dtypes;
2. the number of trainable and non-trainable weights (and parameters) once built;
3. an eager call on `input_data`: the same structure with the exact shapes and dtypes, finite values
   (and, given `input_mask`, the same with ``mask=input_mask``);
4. `get_config` -> `from_config`: a JSON-serialisable config naming every init argument, equal
   (as JSON) after the round trip and after `serialize_keras_object`/`deserialize_keras_object`
   (which also proves the class is registered), and equal outputs once the weights are copied;
5. a `.keras` save/load of the functional model built in step 1: equal outputs, and the restored
   model holds a `layer_cls`;
6. a finite, non-zero gradient for every trainable weight under `tf.GradientTape`;
7. each bad constructor argument raises `ValueError` naming it: ``Received: <name>=<value!r>``;
8. under the ``mixed_float16`` policy, floating outputs are float16 and finite (masked too, given `input_mask`).

Inputs and outputs may be any nested structure (lists, dicts, NamedTuples such as
`EncodedSource`); `keras.tree` walks them, nothing is special-cased. A dict `input_data` is passed
as keyword arguments (``layer(**input_data)``), anything else as the one positional argument.
Expected shapes and dtypes are written in the structure of the output (a single dtype string
applies to every leaf).
"""
import json
import re
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def run_layer_test(layer_cls, init_kwargs, input_data, *, expected_output_shape,
                   expected_num_trainable_weights, expected_num_non_trainable_weights=0,
                   expected_num_params=None, expected_output_dtype="float32", call_kwargs=None,
                   supports_masking=None, bad_init_kwargs=(), run_mixed_precision_check=True, atol=1e-6,
                   input_mask=None):
    """Run the contract above on ``layer_cls(**init_kwargs)``; fails with an assertion naming the step.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: constructor arguments (a dict).
        input_data: NumPy arrays in the call's structure; their first axis is the batch.
        expected_output_shape: the output shapes, in the output's structure, for `input_data`.
        expected_num_trainable_weights: ``len(layer.trainable_weights)`` once built.
        expected_num_non_trainable_weights: ``len(layer.non_trainable_weights)`` once built.
        expected_num_params: ``layer.count_params()``, if given.
        expected_output_dtype: one dtype for every output, or one per output in its structure.
        call_kwargs: extra call arguments (not tensors), e.g. ``{"return_attention_scores": True}``.
        supports_masking: the expected ``layer.supports_masking``, if given.
        bad_init_kwargs: dicts of arguments overriding `init_kwargs`, each of which the constructor
            must refuse with a `ValueError` naming the dict's first key and its value.
        run_mixed_precision_check: also build the layer under ``dtype="mixed_float16"``.
        atol: tolerance of the output comparisons.
        input_mask: a mask in the call's ``mask`` structure (NumPy booleans), for the masked calls of steps 3,
            4 and 8.

    Returns:
        The built layer (for further value checks).

    Example:
    >>> run_layer_test(keras.layers.Dense, {"units": 3}, np.ones((2, 4), "float32"),
    ...                expected_output_shape=(2, 3), expected_num_trainable_weights=2,
    ...                bad_init_kwargs=[{"units": 0}]).count_params()
    15
    >>> class ForgetfulDense(keras.layers.Dense):  # a defect the contract finds
    ...     def get_config(self):
    ...         return {k: v for k, v in super().get_config().items() if k != "use_bias"}
    >>> run_layer_test(ForgetfulDense, {"units": 3, "use_bias": False}, np.ones((2, 4), "float32"),
    ...                expected_output_shape=(2, 3), expected_num_trainable_weights=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: get_config() lacks init arguments ['use_bias']...
    """
    call_kwargs = dict(call_kwargs or {})
    expected_shapes = keras.tree.map_shape_structure(tuple, expected_output_shape)
    expected_dtypes = _broadcast_dtypes(expected_output_dtype, expected_shapes)
    layer = layer_cls(**init_kwargs)
    if supports_masking is not None:
        assert layer.supports_masking == supports_masking, "supports_masking"

    # 1. Symbolic call, unknown batch size.
    symbolic_inputs = _symbolic_inputs(input_data)
    symbolic_outputs = _call(layer, symbolic_inputs, call_kwargs)
    batchless = keras.tree.map_shape_structure(lambda shape: (None, *shape[1:]), expected_shapes)
    _assert_structure("symbolic call", symbolic_outputs, batchless, expected_dtypes)

    # 2. Weight counts once built.
    assert layer.built, "the layer is not built after a symbolic call"
    assert len(layer.trainable_weights) == expected_num_trainable_weights, (
        f"trainable weights: {[w.path for w in layer.trainable_weights]}")
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, (
        f"non-trainable weights: {[w.path for w in layer.non_trainable_weights]}")
    if expected_num_params is not None:
        assert layer.count_params() == expected_num_params, "count_params()"

    # 3. Eager call.
    outputs = _call(layer, input_data, call_kwargs)
    _assert_structure("eager call", outputs, expected_shapes, expected_dtypes)
    _assert_finite("eager call", outputs)
    masked_kwargs = {**call_kwargs, "mask": input_mask}
    if input_mask is not None:
        masked_outputs = _call(layer, input_data, masked_kwargs)
        _assert_structure("masked call", masked_outputs, expected_shapes, expected_dtypes)
        _assert_finite("masked call", masked_outputs)

    # 4. Config round trip.
    config = layer.get_config()
    missing = sorted(set(init_kwargs) - set(config))
    assert not missing, f"get_config() lacks init arguments {missing}"
    config_json = json.dumps(config, sort_keys=True)
    clone = layer_cls.from_config(config)
    assert json.dumps(clone.get_config(), sort_keys=True) == config_json, "from_config(get_config())"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls, f"deserialize_keras_object gave {type(restored).__name__}"
    assert json.dumps(restored.get_config(), sort_keys=True) == config_json, "serialize/deserialize"
    _call(clone, input_data, call_kwargs)
    clone.set_weights(layer.get_weights())
    _assert_all_close("from_config with copied weights", _call(clone, input_data, call_kwargs), outputs, atol)
    if input_mask is not None:
        _assert_all_close("masked, from_config with copied weights", _call(clone, input_data, masked_kwargs),
                          masked_outputs, atol)

    # 5. `.keras` save/load inside a functional model.
    model = keras.Model(symbolic_inputs, symbolic_outputs)
    _assert_all_close("functional model", model(input_data), outputs, atol)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert any(type(inner) is layer_cls for inner in loaded.layers), "the loaded model lacks the layer"
    # The loaded model records its inputs' structure with plain lists (a NamedTuple is not kept).
    loaded_inputs = keras.tree.pack_sequence_as(loaded.input, keras.tree.flatten(input_data))
    _assert_all_close(".keras save/load", loaded(loaded_inputs), outputs, atol)

    # 6. Gradients.
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(tf.square(leaf)) for leaf in keras.tree.flatten(
            _call(layer, input_data, {**call_kwargs, "training": True})) if leaf.dtype.is_floating)
    gradients = tape.gradient(loss, layer.trainable_weights)
    for weight, gradient in zip(layer.trainable_weights, gradients):
        assert gradient is not None, f"no gradient reaches {weight.path}"
        gradient = tf.convert_to_tensor(gradient).numpy()
        assert np.all(np.isfinite(gradient)), f"non-finite gradient of {weight.path}"
        assert np.any(gradient != 0), f"zero gradient of {weight.path}"

    # 7. Bad constructor arguments.
    for bad in bad_init_kwargs:
        name, value = next(iter(bad.items()))
        message = re.escape(f"Received: {name}={value!r}")
        try:
            layer_cls(**{**init_kwargs, **bad})
        except ValueError as error:
            assert re.search(message, str(error)), f"{bad}: the message does not say {message!r}: {error}"
        else:
            raise AssertionError(f"{layer_cls.__name__}(**{bad}) was accepted")

    # 8. Mixed precision.
    if run_mixed_precision_check:
        mixed_layer = layer_cls(**{**init_kwargs, "dtype": "mixed_float16"})
        half_dtypes = keras.tree.map_structure(lambda d: "float16" if "float" in d else d, expected_dtypes)
        for kwargs in (call_kwargs, *([masked_kwargs] if input_mask is not None else [])):
            mixed_outputs = _call(mixed_layer, input_data, kwargs)
            _assert_structure("mixed_float16 call", mixed_outputs, expected_shapes, half_dtypes)
            _assert_finite("mixed_float16 call", mixed_outputs)
    return layer


def _call(layer, inputs, call_kwargs):
    if isinstance(inputs, dict):
        return layer(**inputs, **call_kwargs)
    return layer(inputs, **call_kwargs)


def _symbolic_inputs(input_data):
    """A `keras.Input` per array, batch size unknown; a dict's arrays are named after their keys."""
    def make(x, name=None):
        return keras.Input(batch_shape=(None, *np.shape(x)[1:]), dtype=np.asarray(x).dtype.name, name=name)

    if isinstance(input_data, dict):
        return {key: keras.tree.map_structure(make, value) if keras.tree.is_nested(value) else make(value, key)
                for key, value in input_data.items()}
    return keras.tree.map_structure(make, input_data)


def _assert_finite(step, outputs):
    for leaf in keras.tree.flatten(outputs):
        value = np.asarray(leaf)
        assert value.dtype.kind != "f" or np.all(np.isfinite(value)), f"{step}: non-finite output"


def _broadcast_dtypes(dtypes, shapes):
    if isinstance(dtypes, str):
        return keras.tree.map_shape_structure(lambda _: dtypes, shapes)
    return dtypes


def _assert_structure(step, outputs, shapes, dtypes):
    got_shapes = keras.tree.map_structure(lambda t: tuple(t.shape), outputs)
    assert got_shapes == shapes, f"{step}: output shapes {got_shapes}, expected {shapes}"
    got_dtypes = keras.tree.map_structure(lambda t: keras.backend.standardize_dtype(t.dtype), outputs)
    assert got_dtypes == dtypes, f"{step}: output dtypes {got_dtypes}, expected {dtypes}"


def _assert_all_close(step, actual, expected, atol):
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected), f"{step}: {len(actual)} outputs, expected {len(expected)}"
    for a, b in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, err_msg=step)

