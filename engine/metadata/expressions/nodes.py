"""The expression language's syntax tree and its error type.

`parse` turns text into these small frozen nodes; the checker and both back
ends (SQL, Python) walk them. Every node remembers `offset`, the position of
its first character in the expression text (0-based), so an error can point
at the exact place. Offsets take no part in equality: two parses of the same
text compare equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Union

from ..errors import CODES, ConfigError, Location


class ExpressionError(Exception):
    """A problem in one expression: a stable code, a message, where it is, a hint.

    `offset` counts characters from the start of the expression text.
    """

    def __init__(self, code: str, message: str, offset: int = 0, hint: str | None = None):
        if code not in CODES:  # a programming slip, never a user's
            raise KeyError(f"unknown error code {code}")
        super().__init__(f"{code} {message}" + (f" ({hint})" if hint else ""))
        self.code = code
        self.message = message
        self.offset = offset
        self.hint = hint

    def __repr__(self) -> str:
        return f"ExpressionError({self.code!r}, {self.message!r}, offset={self.offset})"

    def to_config_error(self, text: str, at: Location, path: str) -> ConfigError:
        """This error placed in a file: `at` is where the expression text starts.

        Lines and columns are moved by the offset (a newline in the text moves
        to the next line). Callers of a quoted YAML scalar pass the location
        just after the quote.
        """
        before = text[: self.offset]
        newlines = before.count("\n")
        if newlines:
            line, column = at.line + newlines, len(before) - before.rfind("\n")
        else:
            line, column = at.line, at.column + self.offset
        return ConfigError(Location(at.file, line, column), self.code, path, self.message, self.hint)


def _offset() -> int:
    return field(default=0, compare=False)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    """`42`, `3.5` (a Decimal: literals are exact), `'text'`, `true`, `null`."""

    value: int | Decimal | str | bool | None
    offset: int = _offset()

    # Python has True == 1 == Decimal('1.0'); trees that differ only so must not
    # compare equal, or caches keyed by tree would mix them up.
    def _key(self) -> tuple[type, str]:
        return type(self.value), repr(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Literal) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, slots=True)
class ListLit:
    """`[1, 2]` (a tuple `(1, 2)` is read the same way)."""

    items: tuple[Expr, ...]
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Path:
    """A field or a dotted path: `amount`, `account.industry`, `current_user.team`, `old.stage`."""

    parts: tuple[str, ...]
    offset: int = _offset()

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Param:
    """`$name`: a report parameter, a form field, a record made earlier in a conversion."""

    name: str
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str                       # '-' or '+'
    operand: Expr
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str                       # + - * / %
    left: Expr
    right: Expr
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Compare:
    """One comparison. A chain `a < b < c` is parsed into `a < b and b < c`."""

    op: str                       # == != < <= > >= in, not in
    left: Expr
    right: Expr
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str                       # 'and' or 'or'
    values: tuple[Expr, ...]
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class IfElse:
    """`then if cond else otherwise`."""

    cond: Expr
    then: Expr
    otherwise: Expr
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Call:
    """A function call: `today()`, `coalesce(a, b)`, `min(a, b)` (two arguments)."""

    name: str
    args: tuple[Expr, ...]
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class MethodCall:
    """`s.startswith(t)`, `s.endswith(t)`, `s.contains(t)`, `d.date()`."""

    receiver: Expr
    name: str
    args: tuple[Expr, ...]
    offset: int = _offset()


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`sum(x)`, `avg(x)`, `min(x)`, `max(x)` (one argument), `count()`, `count(cond)`."""

    name: str
    arg: Expr | None
    offset: int = _offset()


Expr = Union[Literal, ListLit, Path, Param, Unary, BinOp, Compare, BoolOp, Not, IfElse,
             Call, MethodCall, Aggregate]


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node, in source order."""
    if isinstance(node, ListLit):
        return node.items
    if isinstance(node, (Unary, Not)):
        return (node.operand,)
    if isinstance(node, (BinOp, Compare)):
        return (node.left, node.right)
    if isinstance(node, BoolOp):
        return node.values
    if isinstance(node, IfElse):
        return (node.cond, node.then, node.otherwise)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, MethodCall):
        return (node.receiver, *node.args)
    if isinstance(node, Aggregate):
        return (node.arg,) if node.arg is not None else ()
    return ()


def walk(node: Expr):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
