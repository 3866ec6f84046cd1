"""RL trainers' own client-side modules, loaded without their training stack.

OpenRLHF and verl are installed without dependencies (requirements-clients.txt). Their
parent packages import DeepSpeed, Ray and the rest at import time, so they are stood in by
empty packages with the real paths; the module asked for runs unchanged.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path


def client_module(dotted: str):
    """``client_module("openrlhf.utils.agent")``: import that module, not its parents' code."""
    top, *parents = dotted.split(".")[:-1]
    # A stand-in put in place by an earlier call has no spec: its path is the real one.
    known = sys.modules.get(top)
    root = Path(known.__path__[0] if known is not None and known.__spec__ is None
                else importlib.util.find_spec(top).submodule_search_locations[0])
    names = [top] + [".".join([top, *parents[:i + 1]]) for i in range(len(parents))]
    for name in names:
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
    return importlib.import_module(dotted)
