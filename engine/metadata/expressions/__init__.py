"""The expression language: one parser and type checker, two back ends.

    from engine.metadata.expressions import parse, check, CheckContext, SqlCompiler, evaluate, EvalEnv

- `parse(text)` -> syntax tree (`nodes.py`), through a strict whitelist of Python's own grammar;
- `check(text, CheckContext(...))` -> (result type, [ExpressionError]);
- `SqlCompiler(...).compile(text)` -> SQLAlchemy column expression, for many rows;
- `evaluate(text, EvalEnv(...))` -> value, for one record.

Both back ends follow SQL's null rules and give the same answers; see
docs/expressions.md for the language as consultants read it.
"""
from .check import Analysis, CheckContext, analyse, check
from .evaluate import EvalEnv, Program, Run, compile_program, evaluate, holds
from .functions import FUNCTIONS, METHODS, Function, register
from .nodes import ExpressionError, Expr
from .parse import parse
from .paths import USER_COLUMNS, USERS, Resolved, computed_type, resolve_path, rollup_source
from .periods import Period, period_problem, resolve_period
from .sql import SqlCompiler, sql_type
from .sqlparts import register_sqlite_functions
from .types import (ANY, BOOL, DATE, DATETIME, DAYS, DECIMAL, INT, NULL, PERIOD, TEXT, USER, Type,
                    accepts, list_of, record, stage, type_of_field, type_of_param, type_of_value)

__all__ = [
    "Analysis", "CheckContext", "analyse", "check",
    "EvalEnv", "Program", "Run", "compile_program", "evaluate", "holds",
    "FUNCTIONS", "METHODS", "Function", "register",
    "ExpressionError", "Expr", "parse",
    "USER_COLUMNS", "USERS", "Resolved", "computed_type", "resolve_path", "rollup_source",
    "Period", "period_problem", "resolve_period",
    "SqlCompiler", "sql_type", "register_sqlite_functions",
    "ANY", "BOOL", "DATE", "DATETIME", "DAYS", "DECIMAL", "INT", "NULL", "PERIOD", "TEXT", "USER", "Type",
    "accepts", "list_of", "record", "stage", "type_of_field", "type_of_param", "type_of_value",
]
