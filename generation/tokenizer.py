"""A model's tokenizer without transformers, for processes that only count or send token ids
(the vLLM scoring backend, exports' token budgets).

``from transformers import AutoTokenizer`` imports torch (about 215 MB per process); the
``vllm`` scoring backend needs none of it. A model saved with a fast tokenizer has a
``tokenizer.json`` that the ``tokenizers`` library loads alone; this class gives it the few
methods ``training.data.encode`` calls, with transformers' results (the tests compare them).
A model with only a slow tokenizer loads through transformers, torch and all.
"""

from __future__ import annotations

import json
from pathlib import Path

NAMED_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")


class FastTokenizer:
    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.backend.no_truncation()
        self.backend.no_padding()
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        self.clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self.all_special_ids = self._special_ids(config)
        self.bos_token_id = self._token_id(config, "bos_token", folder)

    def _special_ids(self, config: dict) -> list[int]:
        """transformers' ``all_special_ids``: the named special tokens and the extra ones."""
        def content(value):
            return value.get("content") if isinstance(value, dict) else value

        tokens = [content(config.get(name)) for name in NAMED_SPECIAL]
        for key in ("extra_special_tokens", "additional_special_tokens"):
            extra = config.get(key) or []
            tokens += [content(v) for v in (extra.values() if isinstance(extra, dict) else extra)]
        ids = {self.backend.token_to_id(t) for t in tokens if isinstance(t, str)}
        return sorted(i for i in ids if i is not None)

    def _token_id(self, config: dict, name: str, folder: Path) -> int | None:
        """transformers' ``<name>_id``: from tokenizer_config.json, else
        special_tokens_map.json; None where neither names the token."""
        value = config.get(name)
        if value is None:
            special = folder / "special_tokens_map.json"
            if special.is_file():
                value = json.loads(special.read_text()).get(name)
        if isinstance(value, dict):
            value = value.get("content")
        return self.backend.token_to_id(value) if isinstance(value, str) else None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.backend.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str | list[str], add_special_tokens: bool = True) -> dict:
        if isinstance(text, list):  # a batch, as transformers' tokenizers take one
            return {"input_ids": [e.ids for e in self.backend.encode_batch(
                text, add_special_tokens=add_special_tokens)]}
        return {"input_ids": self.encode(text, add_special_tokens=add_special_tokens)}

    def decode(self, ids: list[int]) -> str:
        text = self.backend.decode(ids, skip_special_tokens=False)
        if self.clean_up_spaces:  # transformers' clean_up_tokenization
            for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","),
                                  (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"),
                                  (" 've", "'ve"), (" 're", "'re")):
                text = text.replace(before, after)
        return text


def load_tokenizer(folder: str | Path):
    """``FastTokenizer`` where the folder has a ``tokenizer.json``, else transformers'."""
    if (Path(folder) / "tokenizer.json").is_file():
        return FastTokenizer(folder)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)
