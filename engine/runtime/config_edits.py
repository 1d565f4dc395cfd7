"""Common configuration edits on one YAML document's text, keeping its comments and formatting.

    text = add_field(text, "industry", "choice", label="Industry", options=["it", "retail"])
    text = add_option(text, "lost_reason", "timing")
    text = set_stage(text, "qualified", probability=25, required_fields=["amount"])
    text = set_approval_when(text, "discount_pct > 20")
    text = set_alert_offsets(text, before=["30d", "7d"])
    text = set_report_filter(text, "stage.open and amount > 0")

Each function takes a document's text and returns the new text; it never
validates the configuration (the caller runs the real validator on the whole
folder) but refuses edits that cannot apply to the document (`EditError`:
no such stage, the option exists already, ...).

How formatting survives: the document is loaded with ruamel.yaml's
round-trip loader (comments, quotes, flow or block style kept) and changed
as data. ruamel re-emits the *whole* document, though, and normalises what
it does not model (the spaces that align values in columns, some blank
lines). So the new text is not ruamel's output: it is the original text with
only the lines ruamel's output changed spliced in (a line diff of ruamel's
output before and after the change), and a replaced line keeps the original
spacing after its key. Untouched lines stay byte for byte.
"""
from __future__ import annotations

import difflib
import io
import re
from typing import Any, Callable, Iterable, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from .errors import ValidationFailed

FIELD_TYPES_WITH_OPTIONS = ("choice", "multichoice")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DURATION = re.compile(r"^\d+[mhdw]$")
_KEY_SPACING = re.compile(r"^(\s*(?:- )?)([^\s:#][^:#]*?):(\s+)(?=\S)")


class EditError(ValidationFailed):
    """The edit does not fit the document (`field` says which form input); nothing was changed."""

    def __init__(self, field: str, message: str):
        super().__init__({field: [message]})


# ---------------------------------------------------------------- the edits

def add_field(text: str, name: str, type_: str, *, label: str | None = None, required: bool = False,
              options: Sequence[str] = (), in_list: bool = False,
              list_columns: Sequence[str] | None = None) -> str:
    """A new field at the end of `fields:`.

    `in_list` also shows it in the list table: appended to `views.list.columns`
    when the document lists columns; otherwise `list_columns` (the columns the
    list shows today) are written out with the new field after them. When the
    document lists form sections, the field joins the last one.
    """
    if not _NAME.match(name or ""):
        raise EditError("name", "a field name is lowercase letters, digits and _ (starting with a letter)")
    options = [o.strip() for o in options if o.strip()]
    if type_ in FIELD_TYPES_WITH_OPTIONS and not options:
        raise EditError("options", f"a {type_} field needs at least one option")
    for key in options:
        if not _NAME.match(key):
            raise EditError("options", f"option '{key}' is not a valid key (lowercase letters, digits, _)")

    def change(doc: CommentedMap) -> None:
        fields = _mapping(doc, "fields", "fields", "the document has no fields")
        if name in fields:
            raise EditError("name", f"the entity already has a field '{name}'")
        spec = _flow_map({"type": type_})
        if label:
            spec["label"] = label
        if required:
            spec["required"] = True
        if type_ in FIELD_TYPES_WITH_OPTIONS:
            spec["options"] = _flow_seq(options)
        fields[name] = spec if _mostly_flow(fields.values()) else _block_map(spec)
        views = doc.get("views")
        form = views.get("form") if isinstance(views, dict) else None
        sections = form.get("sections") if isinstance(form, dict) else None
        if isinstance(sections, list) and sections and isinstance(sections[-1], dict):
            sections[-1].setdefault("fields", _flow_seq([])).append(name)
        if not in_list:
            return
        listing = views.get("list") if isinstance(views, dict) else None
        columns = listing.get("columns") if isinstance(listing, dict) else None
        if isinstance(columns, list):
            if name not in columns:
                columns.append(name)
        elif list_columns is not None:
            if not isinstance(views, dict):
                doc["views"] = views = CommentedMap()
            if not isinstance(views.get("list"), dict):
                views["list"] = CommentedMap()
            views["list"]["columns"] = _flow_seq([*list_columns, name])

    return _edit(text, change)


def add_option(text: str, field: str, key: str, *, label: str | None = None) -> str:
    """One more option of a choice or multichoice field (a key, or key: label in a mapping)."""
    key = (key or "").strip()
    if not _NAME.match(key):
        raise EditError("option", "an option key is lowercase letters, digits and _ (starting with a letter)")

    def change(doc: CommentedMap) -> None:
        spec = _mapping(_mapping(doc, "fields", "field", "the document has no fields"), field, "field",
                        f"there is no field '{field}' written as a mapping")
        if spec.get("type") not in FIELD_TYPES_WITH_OPTIONS:
            raise EditError("field", f"'{field}' is not a choice or multichoice field")
        options = spec.get("options")
        if isinstance(options, dict):
            if key in options:
                raise EditError("option", f"'{field}' already has the option '{key}'")
            options[key] = label or key.replace("_", " ").capitalize()
        elif isinstance(options, list):
            if key in options:
                raise EditError("option", f"'{field}' already has the option '{key}'")
            options.append(key)
        else:
            raise EditError("field", f"'{field}' has no options list to add to")

    return _edit(text, change)


def set_stage(text: str, stage: str, *, probability: int | None = None,
              required_fields: Sequence[str] | None = None, approvals: Sequence[str] | None = None) -> str:
    """A pipeline stage's probability and the fields / approvals it requires (None: leave as is;
    an empty list removes that requirement)."""
    if probability is not None and not 0 <= probability <= 100:
        raise EditError("probability", "a probability is between 0 and 100")

    def change(doc: CommentedMap) -> None:
        stages = doc.get("stages")
        found = [s for s in stages or [] if isinstance(s, dict) and s.get("key") == stage]
        if not found:
            raise EditError("stage", f"the pipeline has no stage '{stage}'")
        spec = found[0]
        if probability is not None:
            spec["probability"] = probability
        for key, values in (("fields", required_fields), ("approvals", approvals)):
            if values is None:
                continue
            requires = spec.get("requires")
            cleaned = [v.strip() for v in values if v.strip()]
            if cleaned:
                if not isinstance(requires, dict):
                    spec["requires"] = requires = _flow_map({})
                if isinstance(requires.get(key), list):
                    requires[key][:] = cleaned
                else:
                    requires[key] = _flow_seq(cleaned)
            elif isinstance(requires, dict) and key in requires:
                del requires[key]
                if not requires:
                    del spec["requires"]

    return _edit(text, change)


def set_approval_when(text: str, expression: str) -> str:
    """The condition that makes an approval necessary (its threshold)."""
    expression = (expression or "").strip()
    if not expression:
        raise EditError("when", "an approval needs a condition")

    def change(doc: CommentedMap) -> None:
        if "approval" not in doc:
            raise EditError("when", "the document is not an approval")
        doc["when"] = DoubleQuotedScalarString(expression)

    return _edit(text, change)


def set_alert_offsets(text: str, *, before: Sequence[str] | None = None,
                      after: Sequence[str] | None = None) -> str:
    """A date alert's offsets (`before: [30d, 7d]`, `after: [1d]`); an empty list removes that side."""
    def cleaned(values: Sequence[str] | None, field: str) -> list[str] | None:
        if values is None:
            return None
        out = [v.strip() for v in values if v.strip()]
        for v in out:
            if not _DURATION.match(v):
                raise EditError(field, f"'{v}' is not a duration (like 30d, 2w, 12h, 45m)")
        return out

    before_list, after_list = cleaned(before, "before"), cleaned(after, "after")
    if before_list == [] and after_list == []:
        raise EditError("before", "a date alert needs at least one offset")

    def change(doc: CommentedMap) -> None:
        trigger = doc.get("trigger")
        if not isinstance(trigger, dict) or "date" not in trigger:
            raise EditError("before", "the alert has no date trigger (only date alerts have offsets)")
        for key, values in (("before", before_list), ("after", after_list)):
            if values is None:
                continue
            if values:
                if isinstance(trigger.get(key), list):
                    trigger[key][:] = values
                else:
                    trigger[key] = _flow_seq(values)
            elif key in trigger:
                del trigger[key]

    return _edit(text, change)


def set_report_filter(text: str, expression: str) -> str:
    """The filter of a report or KPI (empty: no filter)."""
    expression = (expression or "").strip()

    def change(doc: CommentedMap) -> None:
        if not any(k in doc for k in ("report", "kpi")):
            raise EditError("filter", "the document is not a report or KPI")
        if expression:
            doc["filter"] = DoubleQuotedScalarString(expression)
        elif "filter" in doc:
            del doc["filter"]

    return _edit(text, change)


def split_list(value: str | None) -> list[str]:
    """A form's comma- or space-separated list ("60d, 30d 7d") as items."""
    return [v for v in re.split(r"[,\s]+", value or "") if v]


# ---------------------------------------------------------------- round trip

def _yaml_for(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096          # never fold a long line the original kept on one line
    _, sequence_indent, dash_offset = load_yaml_guess_indent(text)
    if dash_offset:
        yaml.indent(mapping=2, sequence=sequence_indent, offset=dash_offset)
    else:
        yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _edit(text: str, change: Callable[[CommentedMap], None]) -> str:
    try:
        yaml = _yaml_for(text)
        doc = yaml.load(text)
    except YAMLError as exc:
        raise EditError("text", f"the document is not valid YAML; fix it in the editor first ({exc})") from exc
    if not isinstance(doc, CommentedMap):
        raise EditError("text", "the document is not a mapping")
    before = _dump(yaml, doc)
    change(doc)
    after = _dump(yaml, doc)
    spliced = _splice(text, before, after)
    return spliced if _same_data(spliced, after) else after


def _splice(original: str, before: str, after: str) -> str:
    """`original` with the lines that changed from `before` to `after` (both ruamel's output) replaced."""
    orig = original.splitlines(keepends=True)
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    if orig and not orig[-1].endswith("\n"):
        orig[-1] += "\n"
    # Where each line of ruamel's output sits in the original (equal but for spacing).
    where: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, [_squash(x) for x in old], [_squash(x) for x in orig], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            where[block.a + k] = block.b + k
    edits: list[tuple[int, int, list[str]]] = []        # original [start, end) -> new lines
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            if i1 not in where or (i2 - 1) not in where:
                return after
            start, end = where[i1], where[i2 - 1] + 1
        else:   # a pure insertion goes right after the line before it
            start = end = (where[i1 - 1] + 1) if i1 > 0 and (i1 - 1) in where else (where.get(i1, len(orig)))
        replaced = orig[start:end]
        lines = [_respaced(line, replaced[k] if k < len(replaced) else _sibling_above(orig, start, line))
                 for k, line in enumerate(new[j1:j2])]
        if start == end:
            edits.extend(_inserted(orig, start, lines))
        else:
            edits.append((start, end, lines))
    out = list(orig)
    for start, end, lines in sorted(edits, reverse=True):
        out[start:end] = lines
    text = "".join(out)
    # A file that ended without a line break still does.
    return text[:-1] if original and not original.endswith("\n") and text.endswith("\n") else text


def _inserted(orig: list[str], at: int, lines: list[str]) -> list[tuple[int, int, list[str]]]:
    """An insertion, with its indented head moved above the blank and comment lines before it.

    ruamel keeps a comment that stands before the next top-level key as the
    trailing comment of the previous value, so a value appended to a block
    would land below it; the comment belongs to what follows.
    """
    depth = _indent(lines[0]) if lines else 0
    head = 0
    while head < len(lines) and _indent(lines[head]) >= depth > 0:
        head += 1
    back = at
    while back > 0 and (not orig[back - 1].strip()
                        or (orig[back - 1].lstrip().startswith("#") and _indent(orig[back - 1]) < depth)):
        back -= 1
    if head == 0 or back == at:
        return [(at, at, lines)]
    return [(back, back, lines[:head]), (at, at, lines[head:])]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" ")) if line.strip() else 0


def _respaced(line: str, model: str) -> str:
    """`line` with the spacing after its key that `model` uses (columns stay aligned)."""
    new, old = _KEY_SPACING.match(line), _KEY_SPACING.match(model)
    if not new or not old or new.group(1) != old.group(1) or old.group(3) == " ":
        return line         # no model, or one that does not align its values: ruamel's single space
    width = len(old.group(2)) + 1 + len(old.group(3))           # where the model's value starts
    pad = max(1, width - len(new.group(2)) - 1)
    return new.group(1) + new.group(2) + ":" + " " * pad + line[new.end():]


def _sibling_above(orig: list[str], at: int, line: str) -> str:
    """A line above `at` in the same block, with a key at `line`'s indentation and a value: its
    alignment model. One that pads its value is preferred (the widest key of an aligned block has
    a single space)."""
    depth, nearest = _indent(line), ""
    for k in range(at - 1, -1, -1):
        above = orig[k]
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        if _indent(above) < depth:
            break
        match = _KEY_SPACING.match(above) if _indent(above) == depth else None
        if match and match.group(3) != " ":
            return above
        nearest = nearest or (above if match else "")
    return nearest


def _squash(line: str) -> str:
    return re.sub(r"\s+", "", line)


def _same_data(text: str, reference: str) -> bool:
    safe = YAML(typ="safe", pure=True)
    try:
        return bool(safe.load(text) == safe.load(reference))
    except YAMLError:
        return False


# ---------------------------------------------------------------- small helpers

def _mapping(parent: Any, key: str, field: str, missing: str) -> CommentedMap:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, CommentedMap):
        raise EditError(field, missing)
    return value


def _mostly_flow(values: Iterable[Any]) -> bool:
    """True when most of the sibling mappings are written `{...}` on one line (a new one follows them)."""
    styles = [bool(v.fa.flow_style()) for v in values if isinstance(v, CommentedMap)]
    return not styles or sum(styles) * 2 >= len(styles)


def _flow_map(values: dict[str, Any]) -> CommentedMap:
    node = CommentedMap(values)
    node.fa.set_flow_style()
    return node


def _block_map(node: CommentedMap) -> CommentedMap:
    node.fa.set_block_style()
    return node


def _flow_seq(values: Iterable[Any]) -> CommentedSeq:
    node = CommentedSeq(values)
    node.fa.set_flow_style()
    return node
