"""Serving exported models with TF Serving: ``models.config`` and a client that asks the server.

Run it as ``python -m keras_hw2.serving {config,metadata,predict}`` (see
`keras_hw2.serving.__main__`). Modules:

- `config`: the ``models.config`` file for every model under ``saved_models/``;
- `signatures`: a model's `SignatureDef`s from the server's metadata or a local export;
- `inputs`: request inputs built from files, strings and settings, checked against a signature;
- `client`: `RestClient` and `GrpcClient` (metadata and predict).

The exports themselves are written by `keras_hw2.cnn.serving.export_model` and
`keras_hw2.p2g.speller.export_speller` through `keras_hw2.export`.
"""
from keras_hw2.lazy import lazy_exports

# imported on first use, so that ``python -m keras_hw2.serving --help`` imports no TensorFlow
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "client": ("GrpcClient", "RestClient", "ServingError"),
    "config": ("write_config",),
})
