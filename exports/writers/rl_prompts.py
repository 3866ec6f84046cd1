"""An RL prompt set: problems with ground-truth answers, in verl's layout (``data_source``,
chat ``prompt``, ``ability``, ``reward_model.ground_truth``, ``extra_info``), with a flat
``ground_truth`` column that TRL GRPO reward functions receive as a keyword argument."""

from ..records import split_of
from ..selectors import iter_problem_chunks


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    for rows in iter_problem_chunks(spec):
        for pid, _project_id, slug, statement, truth, ext, statement_hash, subject, level in rows:
            split = split_of(statement_hash, spec["test_fraction"], spec["split_seed"])
            yield split, {
                "data_source": f"stepwise/{slug}",
                "prompt": [{"role": "user", "content": statement}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": truth},
                "ground_truth": truth,
                "extra_info": {"problem_id": pid, "external_id": ext, "subject": subject,
                               "level": level, "split": split},
            }, 0
