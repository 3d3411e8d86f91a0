"""keras-tuner's distributed mode: the environment it reads, and a worker's check of its chief.

keras-tuner runs one search over several processes when each is started with:

- ``KERASTUNER_TUNER_ID``: ``chief`` for the process holding the oracle, any
  other unique name (``tuner0``, ``tuner1``, ...) for a worker running trials;
- ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``: where the chief
  serves the oracle (gRPC) and where workers reach it.

The sweep modules in ``tuners/`` run unchanged in that mode. A worker whose chief
cannot be reached would wait inside keras-tuner's gRPC client for an hour;
`check_chief_reachable` turns that into an `InputError` after a bounded time.
"""
import os
import socket
import time

from keras_hw2.errors import InputError

TUNER_ID = "KERASTUNER_TUNER_ID"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
CHIEF_ID = "chief"


def tuner_environment(tuner_id: str, ip: str, port: int) -> dict:
    """The environment variables that make a sweep the chief (``tuner_id="chief"``) or a worker."""
    return {TUNER_ID: tuner_id, ORACLE_IP: ip, ORACLE_PORT: str(port)}


def oracle_address(environ=None):
    """The chief's ``(ip, port)`` from the environment, or None outside distributed mode.

    Raises:
        InputError: ``KERASTUNER_ORACLE_IP`` is set but the tuner id or a valid
            port (1..65535) is missing.
    """
    environ = os.environ if environ is None else environ
    ip = environ.get(ORACLE_IP)
    if not ip:
        return None
    if not environ.get(TUNER_ID):
        raise InputError(f"{ORACLE_IP} is set but {TUNER_ID} is not; give each process a unique "
                         f"{TUNER_ID} ('{CHIEF_ID}' for the oracle, e.g. 'tuner0' for a worker)")
    port = environ.get(ORACLE_PORT, "")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"{ORACLE_PORT} must be a port number 1..65535 when {ORACLE_IP} is set. "
                         f"Received: {ORACLE_PORT}={port!r}")
    return ip, int(port)


def is_worker(environ=None) -> bool:
    """True in a distributed-mode process that runs trials for a chief elsewhere."""
    environ = os.environ if environ is None else environ
    return oracle_address(environ) is not None and environ[TUNER_ID] != CHIEF_ID


def check_chief_reachable(timeout_s: float = 120.0, environ=None) -> None:
    """In a distributed-mode worker, wait until the chief's oracle port accepts connections.

    Does nothing on the chief or outside distributed mode. A worker retries a
    TCP connection to ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`` until it
    succeeds or `timeout_s` seconds have passed (the chief may still be starting).
    Call it just before ``tuner.search(...)``.

    Args:
        timeout_s: how long to keep trying, in seconds.
        environ: the environment to read; `os.environ` when None.

    Raises:
        InputError: the chief could not be reached within `timeout_s`, or the
            distributed-mode variables are incomplete.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive. Received: timeout_s={timeout_s}")
    environ = os.environ if environ is None else environ
    if not is_worker(environ):
        return
    ip, port = oracle_address(environ)
    deadline = time.monotonic() + timeout_s
    remaining = timeout_s
    while remaining > 0:
        try:
            with socket.create_connection((ip, port), timeout=max(0.05, min(2.0, remaining))):
                return
        except OSError as e:
            error = e
        time.sleep(max(0.0, min(0.25, deadline - time.monotonic())))
        remaining = deadline - time.monotonic()
    raise InputError(
        f"keras-tuner worker {environ[TUNER_ID]!r} cannot reach its chief oracle at {ip}:{port} "
        f"within {timeout_s:g} s ({error.strerror or error}); start the chief "
        f"({TUNER_ID}={CHIEF_ID}) first or fix {ORACLE_IP}/{ORACLE_PORT}")
