"""Text -> syntax tree, through Python's own parser and a strict whitelist.

`ast.parse(text, mode="eval")` does the parsing (it never runs anything);
every Python node is then converted into one of our own nodes (`nodes.py`),
and any construct the language does not have is refused with CRM-E304:
attributes on anything but a name, subscripts, lambdas, comprehensions,
f-strings, keyword arguments, `**`, `//`, bit operators, `is`, names that
start with `_`. Nothing is ever evaluated by Python, so nothing can reach
Python objects, imports or the file system.

`$name` is not Python: before parsing, each `$` that starts a name (outside
string literals and comments) is replaced by `_`, which keeps every offset
unchanged; names at those offsets become `Param`s, and any other name that
starts with `_` is refused.

Chained comparisons (`0 <= discount_pct <= 100`) are allowed and mean
`0 <= discount_pct and discount_pct <= 100`, as in Python.
"""
from __future__ import annotations

import ast
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from .nodes import (Aggregate, BinOp, BoolOp, Call, Compare, ExpressionError, Expr, IfElse,
                    ListLit, Literal, MethodCall, Not, Param, Path, Unary)

MAX_LENGTH = 4000          # characters; a long formula is a few hundred
MAX_DEPTH = 60             # nesting of the converted tree
MAX_INT = 2**63 - 1        # integer literals fit a BIGINT
MAX_DIGITS = 30            # significant digits of a decimal literal

AGGREGATES = frozenset({"sum", "avg", "count", "min", "max"})
KEYWORD_LITERALS = {"true": True, "false": False, "null": None}

_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_CMP_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
            ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in"}
_REFUSED_OPS = {
    ast.Pow: ("'**' is not an operator of the language", "multiply instead"),
    ast.FloorDiv: ("'//' is not an operator of the language", "use round(a / b) or a % b"),
    ast.MatMult: ("'@' is not an operator of the language", None),
    ast.BitAnd: ("'&' is not an operator of the language", "use 'and'"),
    ast.BitOr: ("'|' is not an operator of the language", "use 'or'"),
    ast.BitXor: ("'^' is not an operator of the language", None),
    ast.LShift: ("'<<' is not an operator of the language", None),
    ast.RShift: ("'>>' is not an operator of the language", None),
    ast.Invert: ("'~' is not an operator of the language", "use 'not'"),
    ast.Is: ("'is' is not an operator of the language", "use '== null' or '!= null'"),
    ast.IsNot: ("'is not' is not an operator of the language", "use '!= null'"),
}
_REFUSED_NODES = {
    ast.Lambda: "lambdas", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
    ast.Subscript: "subscripts ('x[...]')", ast.Slice: "slices", ast.Dict: "dictionaries",
    ast.Set: "sets", ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignments (':=')", ast.Starred: "'*' unpacking", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield",
}


def parse(text: str) -> Expr:
    """The syntax tree of one expression; raises ExpressionError (CRM-E300/E304).

    Results are cached by text: parsing the same rule for every record is free.
    """
    if not isinstance(text, str):
        raise ExpressionError("CRM-E300", f"an expression must be text, not {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expr:
    if len(text) > MAX_LENGTH:
        raise ExpressionError("CRM-E300", f"the expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("CRM-E300", "the expression is empty")
    if "\x00" in text:
        raise ExpressionError("CRM-E300", "the expression contains a NUL character", text.index("\x00"))
    source, param_offsets = _prepare(text)
    indent = len(source) - len(source.lstrip())
    try:
        tree = ast.parse(source[indent:], mode="eval")
    except SyntaxError as exc:
        if not exc.offset:     # Python reached the end of the text still expecting more
            raise ExpressionError("CRM-E300", "the expression ends too early", len(text.rstrip())) from None
        raise ExpressionError("CRM-E300", exc.msg or "invalid syntax",
                              indent + _syntax_offset(source[indent:], exc)) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("CRM-E300", "the expression is too deeply nested") from None
    return _Converter(source[indent:], indent, param_offsets).convert(tree.body, 0)


def _prepare(text: str) -> tuple[str, frozenset[int]]:
    """Make the text parseable by Python without moving any character.

    Outside string literals: each `$` that starts a name becomes `_` (its
    offset is recorded), comments become spaces, and line breaks become spaces
    (an expression may be folded over lines in YAML).
    """
    out = list(text)
    marked: set[int] = set()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if text[i] == "\\" else 1
            i += len(quote)
            continue
        if ch == "#":
            while i < n and text[i] not in "\r\n":
                out[i] = " "
                i += 1
            continue
        if ch in "\r\n\t\f\v":
            out[i] = " "
        elif (ch == "$" and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_")
              and not (i and (text[i - 1].isalnum() or text[i - 1] == "_"))):
            out[i] = "_"
            marked.add(i)
        i += 1
    return "".join(out), frozenset(marked)


def _syntax_offset(source: str, exc: SyntaxError) -> int:
    if not exc.lineno:
        return 0
    lines = source.split("\n")
    row = max(0, min(exc.lineno - 1, len(lines) - 1))
    start = sum(len(line) + 1 for line in lines[:row])
    # SyntaxError.offset is 1-based and counts characters of the line.
    col = max(0, (exc.offset or 1) - 1)
    return min(start + col, len(source))


class _Converter:
    """Python ast -> our nodes; refuses whatever is not in the language."""

    def __init__(self, source: str, indent: int, param_offsets: frozenset[int]):
        self.source = source
        self.indent = indent              # characters stripped before `source`
        self.param_offsets = param_offsets
        self.line_starts = [0]
        for line in source.split("\n")[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)

    def offset(self, node: ast.AST) -> int:
        """Character offset of a Python node (ast columns count UTF-8 bytes)."""
        row = getattr(node, "lineno", 1) - 1
        line_start = self.line_starts[row]
        line_end = self.source.find("\n", line_start)
        line = self.source[line_start: None if line_end < 0 else line_end]
        col = len(line.encode("utf-8")[: getattr(node, "col_offset", 0)].decode("utf-8", "ignore"))
        return self.indent + line_start + col

    def attr_offset(self, node: ast.Attribute) -> int:
        """Character offset of the name after the dot (`amount.__class__` -> 7)."""
        row = (node.end_lineno or 1) - 1
        line_start = self.line_starts[row]
        line_end = self.source.find("\n", line_start)
        line = self.source[line_start: None if line_end < 0 else line_end]
        end = len(line.encode("utf-8")[: node.end_col_offset or 0].decode("utf-8", "ignore"))
        return self.indent + line_start + end - len(node.attr)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def refuse(self, node: ast.AST, message: str, hint: str | None = None) -> ExpressionError:
        return ExpressionError("CRM-E304", message, self.offset(node), hint)

    def convert(self, node: ast.AST, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ExpressionError("CRM-E300", "the expression is too deeply nested", self.offset(node))
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _REFUSED_NODES.get(type(node), f"'{type(node).__name__}' expressions")
            raise self.refuse(node, f"{what} are not part of the expression language")
        return method(node, depth + 1)

    def _all(self, nodes: list[ast.expr], depth: int) -> tuple[Expr, ...]:
        return tuple(self.convert(n, depth) for n in nodes)

    # literals --------------------------------------------------------------
    def _Constant(self, node: ast.Constant, depth: int) -> Expr:
        value, at = node.value, self.offset(node)
        if value is True or value is False or value is None:
            word = {True: "true", False: "false", None: "null"}[value]
            raise self.refuse(node, f"'{value}' is Python, not the expression language", f"write '{word}'")
        if isinstance(value, str):
            return Literal(value, at)
        if isinstance(value, int):
            if value > MAX_INT:
                raise ExpressionError("CRM-E300", "the number is too large", at)
            return Literal(value, at)
        if isinstance(value, float):
            return Literal(self._decimal(node), at)
        raise self.refuse(node, f"{type(value).__name__} literals are not part of the expression language")

    def _decimal(self, node: ast.Constant) -> Decimal:
        text = self.segment(node).replace("_", "")
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal(repr(node.value))
        if not number.is_finite() or len(number.as_tuple().digits) > MAX_DIGITS or abs(number) > MAX_INT:
            raise ExpressionError("CRM-E300", "the number is too large or too precise", self.offset(node))
        return number

    def _List(self, node: ast.List, depth: int) -> Expr:
        return ListLit(self._all(node.elts, depth), self.offset(node))

    def _Tuple(self, node: ast.Tuple, depth: int) -> Expr:
        return ListLit(self._all(node.elts, depth), self.offset(node))

    # names -----------------------------------------------------------------
    def _Name(self, node: ast.Name, depth: int) -> Expr:
        at = self.offset(node)
        if at in self.param_offsets:
            return Param(node.id[1:], at)
        self._check_name(node.id, node)
        if node.id in KEYWORD_LITERALS:
            return Literal(KEYWORD_LITERALS[node.id], at)
        return Path((node.id,), at)

    def _Attribute(self, node: ast.Attribute, depth: int) -> Expr:
        self._check_name(node.attr, node, self.attr_offset(node))
        base = self.convert(node.value, depth)
        if isinstance(base, Path):
            return Path(base.parts + (node.attr,), base.offset)
        if isinstance(base, Param):
            raise self.refuse(node, f"a parameter has no parts ('${base.name}.{node.attr}')")
        raise self.refuse(node, f"'.{node.attr}' can only follow a field name",
                          "only methods such as .date() or .startswith() may follow other values")

    def _check_name(self, name: str, node: ast.AST, at: int | None = None) -> None:
        if name.startswith("_"):
            raise ExpressionError("CRM-E304", f"names starting with '_' are not allowed ('{name}')",
                                  self.offset(node) if at is None else at)

    # operators -------------------------------------------------------------
    def _op(self, node: ast.AST, op: ast.AST, table: dict) -> str:
        if type(op) in table:
            return table[type(op)]
        message, hint = _REFUSED_OPS.get(type(op), (f"'{type(op).__name__}' is not an operator of the language", None))
        raise self.refuse(node, message, hint)

    def _BinOp(self, node: ast.BinOp, depth: int) -> Expr:
        op = self._op(node, node.op, _BIN_OPS)
        return BinOp(op, self.convert(node.left, depth), self.convert(node.right, depth), self.offset(node))

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Expr:
        operand = self.convert(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return Not(operand, self.offset(node))
        op = self._op(node, node.op, {ast.USub: "-", ast.UAdd: "+"})
        if op == "-" and isinstance(operand, Literal) and type(operand.value) in (int, Decimal):
            return Literal(-operand.value, self.offset(node))
        return Unary(op, operand, self.offset(node))

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Expr:
        return BoolOp("and" if isinstance(node.op, ast.And) else "or", self._all(node.values, depth),
                      self.offset(node))

    def _Compare(self, node: ast.Compare, depth: int) -> Expr:
        for op in node.ops:
            self._op(node, op, _CMP_OPS)
        operands = [self.convert(node.left, depth), *self._all(node.comparators, depth)]
        parts = tuple(Compare(self._op(node, op, _CMP_OPS), operands[i], operands[i + 1],
                              operands[i].offset)
                      for i, op in enumerate(node.ops))
        return parts[0] if len(parts) == 1 else BoolOp("and", parts, self.offset(node))

    def _IfExp(self, node: ast.IfExp, depth: int) -> Expr:
        return IfElse(self.convert(node.test, depth), self.convert(node.body, depth),
                      self.convert(node.orelse, depth), self.offset(node))

    # calls -----------------------------------------------------------------
    def _Call(self, node: ast.Call, depth: int) -> Expr:
        if node.keywords:
            raise self.refuse(node.keywords[0], "keyword arguments are not part of the expression language")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(node, "'*' unpacking is not part of the expression language")
        args = self._all(node.args, depth)
        at = self.offset(node)
        func = node.func
        if isinstance(func, ast.Name):
            if at in self.param_offsets:
                raise self.refuse(node, "a parameter cannot be called")
            self._check_name(func.id, func)
            return self._call(func.id, args, at)
        if isinstance(func, ast.Attribute):
            self._check_name(func.attr, func, self.attr_offset(func))
            receiver = self.convert(func.value, depth)
            return MethodCall(receiver, func.attr, args, at)
        raise self.refuse(node, "only named functions and methods can be called")

    @staticmethod
    def _call(name: str, args: tuple[Expr, ...], at: int) -> Expr:
        """Aggregates are told apart from functions by name and arity: min(x) vs min(a, b)."""
        if name == "count":
            if len(args) > 1:
                raise ExpressionError("CRM-E302", f"count() takes at most one argument, not {len(args)}", at)
            return Aggregate("count", args[0] if args else None, at)
        if name in ("sum", "avg"):
            if len(args) != 1:
                raise ExpressionError("CRM-E302", f"{name}() takes one argument, not {len(args)}", at)
            return Aggregate(name, args[0], at)
        if name in ("min", "max") and len(args) == 1:
            return Aggregate(name, args[0], at)
        return Call(name, args, at)
