"""Parse and validate a GraphQL request document against a schema (spec 5, 6.1)."""
from __future__ import annotations

from .op_ast import Document, OperationDefinition
from .op_parse import GraphQLSyntaxError, parse_operation_document
from .query_errors import QueryError, RequestInvalid
from .schema_view import SchemaView
from .validate_document import validate_document


def parse_and_validate(text: str, view: SchemaView) -> Document:
    """Return the validated document; raise :class:`RequestInvalid` with every error."""
    try:
        document = parse_operation_document(text)
    except GraphQLSyntaxError as exc:
        from .op_ast import SourceText

        raise RequestInvalid([QueryError(exc.message, [exc.offset],
                                         code="GRAPHQL_PARSE_FAILED")], SourceText(text))
    errors = validate_document(document, view)
    if errors:
        raise RequestInvalid(errors, document.source)
    return document


def select_operation(document: Document, name: str | None) -> OperationDefinition:
    """Spec 6.1 GetOperation."""
    if name is None:
        if len(document.operations) == 1:
            return document.operations[0]
        raise RequestInvalid([QueryError(
            "Must provide operation name if query contains multiple operations.",
            code="BAD_USER_INPUT")], document.source)
    for operation in document.operations:
        if operation.name == name:
            return operation
    raise RequestInvalid([QueryError(f'Unknown operation named "{name}".',
                                     code="BAD_USER_INPUT")], document.source)
