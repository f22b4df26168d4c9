"""plait.planner: config loading and validation, query planning, bytecode emission."""
from .diagnostics import ConfigError, Diagnostic, Loc, Severity
from .loader import CheckResult, check_config, load_config, load_config_string
from .model import Blueprint
from .n_plus_one import NPlusOne, find_n_plus_one
from .opcodes import Op

__all__ = [
    "Blueprint", "CheckResult", "ConfigError", "Diagnostic", "Loc", "NPlusOne", "Op",
    "Severity", "check_config", "find_n_plus_one", "load_config", "load_config_string",
]
