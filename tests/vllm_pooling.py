"""A vLLM pooling server started from the command line ``GET /api/models/<id>/`` gives.

The command (``vllm serve "$STEPWISE_MODELS_DIR"/prm/... --runner pooling ...``) runs in a
shell as it is, with ``vllm serve`` standing for the CPU build's entry point (its ``vllm``
console script fails) and the CPU test flags after it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.inference_server import free_port, wait_until_up
from tests.vllm_server import START_TIMEOUT, VLLM_PYTHON, stop_server, vllm_env

# `vllm serve MODEL ARGS...` -> the CPU build's server on MODEL with ARGS, on $PORT.
SHELL_VLLM = ('vllm() { [ "$1" = serve ] || return 2; shift; '
              'exec "$STEPWISE_VLLM_PYTHON" -m vllm.entrypoints.openai.api_server --model "$@" '
              '--host 127.0.0.1 --port "$PORT" --dtype float32 --seed 0; }\n')


def start_from_command(command: str, models_dir: Path, log: Path,
                       timeout: float = START_TIMEOUT) -> tuple[subprocess.Popen, str]:
    """Run ``command`` (``vllm serve ...``); returns the process and the server's base URL."""
    if not VLLM_PYTHON.exists():
        from tests.inference_server import ServerStartError

        raise ServerStartError(f"{VLLM_PYTHON} not found: run scripts/setup_vllm_cpu.sh.")
    port = free_port()
    env = {**vllm_env(), "STEPWISE_VLLM_PYTHON": str(VLLM_PYTHON), "PORT": str(port),
           "STEPWISE_MODELS_DIR": str(models_dir)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        out.write(command + "\n")
        out.flush()
        proc = subprocess.Popen(["bash", "-c", SHELL_VLLM + command], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, log, timeout=timeout)
    except BaseException:
        stop_server(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"
