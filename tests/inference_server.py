"""Real OpenAI-compatible servers for the tests and ``bench/bench_backends.py``:
``transformers serve`` on the demo model, and a proxy process in front of it that answers
500 to its first requests. Failures raise ``ServerStartError`` (pytest reports it too)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROXY = Path(__file__).with_name("flaky_proxy.py")


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sampling_model_dir(model: Path, out: Path) -> Path:
    """The model's files, with a generation config that samples.

    ``transformers serve`` samples only where the model's ``generation_config.json`` says
    ``do_sample`` (published chat models do; the demo model leaves it to the caller)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in model.iterdir():
        if item.name != "generation_config.json" and not (out / item.name).exists():
            (out / item.name).symlink_to(item)
    config = json.loads((model / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=1.0, top_p=1.0)
    (out / "generation_config.json").write_text(json.dumps(config))
    return out


#: Role lines: the demo model has no chat template of its own.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def chat_model_dir(out: Path) -> Path:
    """The demo model as ``sampling_model_dir`` gives it, with ``CHAT_TEMPLATE`` in its own
    copy of the tokenizer config (chat completions need one)."""
    from demo.testing import build_test_model

    model_dir = sampling_model_dir(build_test_model(), out)
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()  # a link into the shared model: write a copy of our own
    config_path.write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
    return model_dir


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise ServerStartError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def start_transformers_serve(model_dir: Path, log: Path,
                             *options: str) -> tuple[subprocess.Popen, str]:
    """``transformers serve`` with the model preloaded, on a free loopback port (``options``:
    more of its flags); returns the process and its ``/v1`` base URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("transformers")
    out = open(log, "w")
    proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", *options, str(model_dir)],
                            stdout=out, stderr=subprocess.STDOUT)
    out.close()
    wait_until_up(f"http://127.0.0.1:{port}/health", proc, log)
    return proc, f"http://127.0.0.1:{port}/v1"


def start_flaky_proxy(upstream: str, failures: int, log: Path) -> tuple[subprocess.Popen, str]:
    """A proxy process that answers 500 to the first ``failures`` completions, then forwards.
    Its log has one line per request: ``500 /v1/completions`` or ``200 /v1/completions``."""
    port = free_port()
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, str(PROXY), str(port), upstream, str(failures)],
                            stdout=out, stderr=subprocess.STDOUT)
    out.close()
    wait_until_up(f"http://127.0.0.1:{port}/health", proc, log, timeout=20)
    return proc, f"http://127.0.0.1:{port}/v1"
