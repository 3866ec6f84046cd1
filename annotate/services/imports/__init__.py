"""Importers: PRM800K, problems (JSONL/CSV), solutions, Math-Shepherd, PRMBench and agent
trajectory files.

Each ``import_<format>(project, lines, *, source_name, ...)`` takes an iterable of
lines and returns an :class:`ImportReport`; every row is all-or-nothing.
"""

from .deltabench import import_deltabench
from .files import FORMATS, check_options, import_file, start_import_run
from .machine_labels import import_machine_labels
from .math_shepherd import import_math_shepherd
from .prm800k import import_prm800k
from .prmbench import import_prmbench
from .problems import import_problems, import_problems_csv
from .rows import ImportReport, RowError
from .solutions import import_solutions
from .traces import import_traces
from .trajectory import import_trajectories

__all__ = [
    "FORMATS", "ImportReport", "RowError", "check_options", "import_deltabench", "import_file", "import_machine_labels",
    "import_math_shepherd",
    "import_prm800k", "import_prmbench", "import_problems", "import_problems_csv",
    "import_solutions", "import_traces", "import_trajectories", "start_import_run",
]
