"""Typed interface of the compiled parser ``plait.planner._op_parse`` (twin of ``op_parse``)."""
from plait.planner.op_ast import Document

def parse_operation_document(text: str) -> Document: ...
