"""LLM judges of steps: versioned prompt templates, the parsing of their answers, and the
vote over k samples. Pure functions: no model, no database (the judge Run builds on them)."""
