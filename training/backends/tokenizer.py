"""The PRM's tokenizer without transformers: ``generation.tokenizer`` (shared with exports'
token budgets), named here where the scoring backends look for it."""

from generation.tokenizer import NAMED_SPECIAL, FastTokenizer, load_tokenizer

__all__ = ["NAMED_SPECIAL", "FastTokenizer", "load_tokenizer"]
