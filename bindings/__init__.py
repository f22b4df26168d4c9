"""plait: a fast API-composition engine.

A GraphQL SDL config (Tailcall-compatible directives) says how each field maps to upstream
calls; plait validates it into a Blueprint, compiles operations to bytecode and runs them.

    >>> import plait
    >>> blueprint = plait.load_config("examples/jsonplaceholder.graphql")
"""
from .planner import Blueprint, ConfigError, check_config, load_config, load_config_string
from .engine_api import Engine, ExecutionResult

__version__ = "0.1.0"

__all__ = ["Blueprint", "ConfigError", "Engine", "ExecutionResult", "__version__",
           "check_config", "load_config", "load_config_string"]
