"""Reading one YAML file safely, keeping the place of every value.

PyYAML is used only to compose a node tree (never to construct Python objects
from tags), with a resolver that follows YAML 1.2's core schema: `yes`, `no`,
`on`, `off` stay text, `08:00` stays text, `2025-01-01` stays text. The tree
is walked once into plain dicts, lists and scalars, and the line and column of
every value and every key are recorded in a `SourceDoc`.

Refused, each with a located error: non-UTF-8 bytes, empty files, files over
`MAX_FILE_BYTES`, duplicate keys, tags other than the plain ones, and alias
use that would expand into a huge tree ("billion laughs").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
import yaml.cyaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, Location

MAX_FILE_BYTES = 1024 * 1024
# Total nodes a document may expand to once aliases are followed. A generous
# configuration file has a few thousand; a billion-laughs file has billions.
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class _Core12Resolver(yaml.resolver.BaseResolver):
    """Implicit types of YAML 1.2's core schema, nothing else."""


_Core12Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Core12Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
_Core12Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Core12Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


class _PyNodeLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                    yaml.composer.Composer, _Core12Resolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Core12Resolver.__init__(self)


if yaml.__with_libyaml__:
    # libyaml scans and composes in C (about 10x faster); tags are still
    # resolved by our YAML 1.2 resolver, and no object is ever constructed.
    class _CNodeLoader(yaml.cyaml.CParser, _Core12Resolver):
        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _Core12Resolver.__init__(self)

    _NodeLoader: type = _CNodeLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _NodeLoader = _PyNodeLoader


@dataclass(slots=True)
class SourceDoc:
    """One YAML document: plain data plus the place of each value and key."""

    file: str
    data: Any
    # (line, column) per path; Location objects are made only when asked for,
    # since a folder has tens of thousands of values and few errors.
    value_locs: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_locs: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    index: int = 0  # position of the document in a multi-document file
    text: str = field(default="", repr=False)   # the whole file, to place errors inside values

    def inner_loc(self, path: Path_) -> Location:
        """Where the text of the scalar at `path` starts: after its quote, if quoted."""
        at = self.loc(path)
        lines = self.text.splitlines()
        if 0 < at.line <= len(lines):
            line = lines[at.line - 1]
            if 0 < at.column <= len(line) and line[at.column - 1] in "'\"":
                return Location(at.file, at.line, at.column + 1)
        return at

    def __repr__(self) -> str:
        return f"SourceDoc({self.file!r}#{self.index})"

    def loc(self, path: Path_ = ()) -> Location:
        """Where the value at `path` is, or its nearest existing ancestor."""
        path = tuple(path)
        while path:
            if path in self.value_locs:
                return Location(self.file, *self.value_locs[path])
            path = path[:-1]
        root = self.value_locs.get(())
        return Location(self.file, *root) if root else Location(self.file)

    def key_loc(self, path: Path_) -> Location:
        """Where the key of the mapping entry at `path` is (falls back to `loc`)."""
        at = self.key_locs.get(tuple(path))
        return Location(self.file, *at) if at else self.loc(path)

    def get(self, path: Path_, default: Any = None) -> Any:
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node


class _Refused(Exception):
    def __init__(self, error: ConfigError):
        self.error = error


def _loc(file: str, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == "tag:yaml.org,2002:bool":
        return text.lower() == "true"
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:int":
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
    if tag == "tag:yaml.org,2002:float":
        low = text.lower()
        if low.endswith("inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low == ".nan":
            return float("nan")
        return float(text)
    return text


def _expanded_size(root: Node, file: str) -> int:
    """How many values the tree has once aliases are followed, computed on the
    (shared) node graph without expanding it, so a billion-laughs file costs
    microseconds to measure. A recursive alias counts as too large."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, ScalarNode):
            sizes[key] = 1
            continue
        kids = ([n for pair in node.value for n in pair] if isinstance(node, MappingNode)
                else list(node.value))
        if children_done:
            in_progress.discard(key)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), MAX_EXPANDED_NODES + 1)
            continue
        if key in in_progress:
            return MAX_EXPANDED_NODES + 1     # an alias inside its own anchor
        in_progress.add(key)
        stack.append((node, True))
        for kid in kids:
            if id(kid) not in sizes:
                if id(kid) in in_progress:
                    return MAX_EXPANDED_NODES + 1
                stack.append((kid, False))
    return sizes[id(root)]


class _Walker:
    """Turns a node tree into plain data, recording locations and refusing abuse."""

    def __init__(self, file: str, doc: SourceDoc):
        self.file = file
        self.doc = doc
        self.expanded = 0
        self.anchors_seen: set[int] = set()

    def refuse(self, node: Node, code: str, path: Path_, message: str, hint: str | None = None) -> None:
        raise _Refused(ConfigError(_loc(self.file, node), code, _dotted(path), message, hint))

    def walk(self, node: Node, path: Path_, depth: int = 0) -> Any:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            self.refuse(node, "CRM-E007", path,
                        f"the document expands to more than {MAX_EXPANDED_NODES} values through aliases",
                        "write the values out instead of repeating anchors")
        if depth > MAX_DEPTH:
            self.refuse(node, "CRM-E007", path, f"nesting deeper than {MAX_DEPTH} levels")
        if node.tag not in _PLAIN_TAGS:
            self.refuse(node, "CRM-E006", path, f"the tag {node.tag!r} is not allowed",
                        "configuration files use plain YAML values only")
        # Record only the first place a value is seen: an alias re-uses a node.
        if path not in self.doc.value_locs:
            mark = node.start_mark
            self.doc.value_locs[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if isinstance(node, SequenceNode):
            return [self.walk(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.value == "<<" and not key_node.style):
                self.refuse(key_node, "CRM-E006", path, "merge keys ('<<') are not allowed",
                            "write the keys out in full")
            if not isinstance(key_node, ScalarNode):
                self.refuse(key_node, "CRM-E102", path, "a mapping key must be plain text")
            key = key_node.value  # keys stay the text written: `1`, `yes`, `true` alike
            if key in result:
                first = self.doc.key_loc(path + (key,)) if path + (key,) in self.doc.key_locs else None
                self.refuse(key_node, "CRM-E005", path + (key,),
                            f"the key '{key}' is given twice",
                            f"first given at line {first.line}" if first else None)
            mark = key_node.start_mark
            self.doc.key_locs[path + (key,)] = (mark.line + 1, mark.column + 1)
            result[key] = self.walk(value_node, path + (key,), depth + 1)
        return result


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


dotted = _dotted


def _yaml_error(file: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{problem} ({context})" if context else problem
    return ConfigError(Location(file, line, col), "CRM-E001", "", f"not valid YAML: {message}")


def read_text(path: Path, shown_as: str) -> tuple[str | None, list[ConfigError]]:
    """The file's text, or the reason it cannot be used."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [ConfigError(Location(shown_as), "CRM-E008", "", f"cannot read the file: {exc.strerror}")]
    if size > MAX_FILE_BYTES:
        return None, [ConfigError(Location(shown_as), "CRM-E004", "",
                                  f"the file is {size} bytes; the limit is {MAX_FILE_BYTES}",
                                  "split it into several files")]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [ConfigError(Location(shown_as, line, col), "CRM-E002", "",
                                  f"byte 0x{raw[exc.start]:02x} is not UTF-8", "save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, []


def parse_documents(text: str, shown_as: str) -> tuple[list[SourceDoc], list[ConfigError]]:
    """Every document in a YAML text, each with its value locations."""
    if not text.strip() or all(
            not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return [], [ConfigError(Location(shown_as), "CRM-E003", "", "the file is empty")]
    loader = _NodeLoader(text)
    docs: list[SourceDoc] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            # Without an anchor (`&`) there can be no alias, so no expansion to measure.
            if "&" in text and _expanded_size(node, shown_as) > MAX_EXPANDED_NODES:
                return [], [ConfigError(
                    _loc(shown_as, node), "CRM-E007", "",
                    f"the document expands to more than {MAX_EXPANDED_NODES} values through aliases",
                    "write the values out instead of repeating anchors")]
            doc = SourceDoc(shown_as, None, index=index, text=text)
            doc.data = _Walker(shown_as, doc).walk(node, ())
            docs.append(doc)
            index += 1
    except _Refused as refused:
        return [], [refused.error]
    except yaml.YAMLError as exc:
        return [], [_yaml_error(shown_as, exc)]
    except RecursionError:
        return [], [ConfigError(Location(shown_as), "CRM-E007", "", "the document is nested too deeply")]
    finally:
        loader.dispose()
    return docs, []


def iter_paths(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) below `data`, depth first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from iter_paths(value, path + (i,))
