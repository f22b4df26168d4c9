"""Opcodes: one Python enum, a generated Cython include that must not drift, and the
compiled extension that CI must build (no silent fallback)."""
from __future__ import annotations

import pytest

from plait.engine import extensions_disabled, load_compiled_core
from plait.planner.gen_opcodes import HEADER, render, target_path
from plait.planner.opcodes import Op


def test_generated_include_matches_the_enum() -> None:
    on_disk = target_path().read_text()
    assert on_disk == render(), (
        "engine/opcodes.pxi is stale: run `python planner/gen_opcodes.py` and rebuild")


def test_generated_include_says_do_not_edit() -> None:
    assert target_path().read_text().startswith(HEADER)
    assert "do not edit" in HEADER


def test_opcode_values_are_dense_and_stable() -> None:
    assert [op.value for op in Op] == list(range(len(Op)))
    assert Op.HALT == 0 and Op.FETCH == 1


@pytest.mark.skipif(extensions_disabled(), reason="PLAIT_NO_EXTENSIONS=1 selects the "
                    "pure-Python reference VM")
def test_compiled_extension_matches_the_enum() -> None:
    core = load_compiled_core()
    assert core is not None
    assert core.opcode_values() == {op.name: op.value for op in Op}
    assert core.opcode_name(int(Op.BATCH)) == "BATCH"
    with pytest.raises(ValueError, match="unknown opcode 999"):
        core.opcode_name(999)


def test_no_extensions_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_NO_EXTENSIONS", "1")
    assert extensions_disabled() and load_compiled_core() is None
    monkeypatch.setenv("PLAIT_NO_EXTENSIONS", "0")
    assert not extensions_disabled()
