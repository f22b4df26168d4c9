"""The README's quick start stays true: two commands, and CI runs the test one."""
from __future__ import annotations

import re

from .conftest import REPO


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_one_line_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    main_job, tests = commands
    assert main_job.endswith(".venv/bin/plait demo")
    assert "pytest" in tests and ".[test]" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "grep -m1 -E '^python3 -m venv .venv && .*pytest' README.md" in ci
    [command] = [c for c in quick_start_commands() if "pytest" in c]
    assert re.match(r"^python3 -m venv \.venv && .*pytest", command)
