"""Reading a configuration folder into a validated `Config`.

    config = load_config("configs")          # raises ConfigInvalid with every error
    config, errors = validate_folder("configs")

Order of work: read every file (safe YAML, located values), check each
document's shape against its JSON Schema, build the frozen model, then run the
meaning checks (cross-references, expressions, templates). When any document
has a shape error, the meaning layer is skipped: its findings would mostly
echo the broken document.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import model as m
from .build import Builder
from .errors import ConfigError, ConfigInvalid, ErrorSink, Location
from .yamlsafe import SourceDoc, parse_documents, read_text

# folder -> the document kinds it may hold (the kind is the document's first key)
FOLDERS: dict[str, tuple[str, ...]] = {
    "entities": ("entity",),
    "pipelines": ("pipeline",),
    "approvals": ("approval",),
    "alerts": ("alert",),
    "reports": ("report", "kpi", "quota", "dashboard"),
    "tests": ("test",),
}
ROOT_FILES = {"crm.yaml": "crm", "roles.yaml": "roles"}
YAML_SUFFIXES = (".yaml", ".yml")
MAX_TEMPLATE_BYTES = 512 * 1024


@dataclass(slots=True)
class RawFolder:
    """Every file of a configuration folder, read and parsed, not yet checked."""

    root: Path
    docs: list[tuple[str, SourceDoc]] = field(default_factory=list)    # (kind, doc)
    templates: dict[str, m.Template] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)                 # relative path -> text


def shown_path(path: Path) -> str:
    """A path as errors show it: relative to the working folder when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _kind_of(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    if "company" in data:
        return "crm"
    # `entity:` also appears inside pipelines, approvals, alerts and reports, so it comes last.
    for kind in ("pipeline", "approval", "alert", "report", "kpi", "quota", "dashboard", "test", "entity"):
        if kind in data:
            return kind
    return "roles" if "roles" in data else None


def read_folder(root: str | Path, sink: ErrorSink, files: dict[str, str] | None = None) -> RawFolder:
    """Reads a folder from disk, or from `files` (relative path -> text) when given."""
    root = Path(root)
    raw = RawFolder(root)
    texts = files if files is not None else _read_disk(root, sink)
    for rel in sorted(texts):
        text = texts[rel]
        raw.files[rel] = text
        shown = shown_path(root / rel)
        parts = rel.split("/")
        if parts[0] == "templates":
            raw.templates["/".join(parts[1:])] = m.Template("/".join(parts[1:]), text, shown)
            continue
        if not rel.endswith(YAML_SUFFIXES):
            continue
        expected = _expected_kinds(rel)
        if expected is None:
            continue   # a YAML file outside the known places (e.g. docs) is not configuration
        docs, errors = parse_documents(text, shown)
        sink.extend(errors)
        if len(docs) > 1 and expected != ("test",):
            sink.add(Location(shown, 1, 1), "CRM-E009", "",
                     "the file holds several documents; only tests/ files may (one per ---)")
            docs = docs[:1]
        for doc in docs:
            kind = _kind_of(doc.data)
            if kind not in expected:
                sink.add(doc.loc(), "CRM-E009", "",
                         f"expected a document of kind {' or '.join(expected)} here, found "
                         + (f"'{kind}'" if kind else "none (no known first key)"),
                         f"start the document with '{expected[0]}: <name>'" if expected[0] not in ("crm", "roles") else None)
                continue
            stem = Path(rel).stem
            if kind not in ("crm", "roles", "test") and doc.data.get(kind) != stem:
                sink.add(doc.loc((kind,)), "CRM-E010", kind,
                         f"the {kind} is named '{doc.data.get(kind)}' but its file is '{Path(rel).name}'",
                         f"rename the file to {doc.data.get(kind)}.yaml or the {kind} to '{stem}'")
            raw.docs.append((kind, doc))
    for required in ROOT_FILES:
        if required not in texts:
            sink.add(Location(shown_path(root / required)), "CRM-E008", "",
                     f"the folder has no {required}", "every configuration folder needs crm.yaml and roles.yaml")
    return raw


def _expected_kinds(rel: str) -> tuple[str, ...] | None:
    parts = rel.split("/")
    if len(parts) == 1:
        kind = ROOT_FILES.get(parts[0])
        return (kind,) if kind else None
    if len(parts) == 2 and parts[0] in FOLDERS:
        return FOLDERS[parts[0]]
    return None


def _read_disk(root: Path, sink: ErrorSink) -> dict[str, str]:
    if not root.is_dir():
        sink.add(Location(shown_path(root)), "CRM-E008", "", "the configuration folder does not exist")
        return {}
    texts: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        rel = path.relative_to(root).as_posix()
        is_template = rel.startswith("templates/")
        if not is_template and _expected_kinds(rel) is None:
            continue
        if is_template and path.stat().st_size > MAX_TEMPLATE_BYTES:
            sink.add(Location(shown_path(path)), "CRM-E004", "",
                     f"the template is larger than {MAX_TEMPLATE_BYTES} bytes")
            continue
        if is_template or rel.endswith(YAML_SUFFIXES):
            text, errors = read_text(path, shown_path(path))
            sink.extend(errors)
            if text is not None:
                texts[rel] = text
    return texts


def revision_of(files: dict[str, str]) -> str:
    """The content hash that identifies a configuration revision."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()[:16]


def _check_shapes(raw: RawFolder, sink: ErrorSink) -> None:
    from .shape import check_shape
    for kind, doc in raw.docs:
        sink.extend(check_shape(doc, kind))


def build_config(raw: RawFolder, sink: ErrorSink) -> m.Config | None:
    builder = Builder(sink)
    by_kind: dict[str, list[SourceDoc]] = {}
    for kind, doc in raw.docs:
        by_kind.setdefault(kind, []).append(doc)
    crm_docs = by_kind.get("crm") or []
    if not crm_docs:
        return None
    named: dict[str, dict[str, object]] = {}
    report_space: dict[str, object] = {}

    def unique(kind: str, name: str, doc: SourceDoc, obj: object, space: dict[str, object]) -> None:
        if name in space:
            sink.add(doc.loc((kind,)), "CRM-E011", kind, f"the name '{name}' is used twice")
        space[name] = obj

    for kind in ("entity", "pipeline", "approval", "alert", "report", "kpi", "quota", "dashboard"):
        space = report_space if kind in ("report", "kpi", "quota", "dashboard") else named.setdefault(kind, {})
        for doc in by_kind.get(kind, []):
            obj = getattr(builder, kind)(doc)
            unique(kind, obj.name, doc, obj, space)
    roles_docs = by_kind.get("roles") or []
    roles = builder.roles(roles_docs[0]) if roles_docs else {}

    def of(cls: type) -> dict:
        return {k: v for k, v in report_space.items() if isinstance(v, cls)}

    return m.Config(
        root=str(raw.root), company=builder.company(crm_docs[0]), roles=roles,
        entities=named.get("entity", {}), pipelines=named.get("pipeline", {}),
        approvals=named.get("approval", {}), alerts=named.get("alert", {}),
        reports=of(m.Report), kpis=of(m.Kpi), quotas=of(m.Quota), dashboards=of(m.Dashboard),
        templates=dict(raw.templates),
        tests=tuple(builder.scenario(doc) for doc in by_kind.get("test", [])),
        files=dict(raw.files), revision=revision_of(raw.files))


def validate_folder(root: str | Path, files: dict[str, str] | None = None) -> tuple[m.Config | None, list[ConfigError]]:
    """The Config and no errors, or None (or a partial Config) and every error found, sorted."""
    sink = ErrorSink()
    raw = read_folder(root, sink, files)
    _check_shapes(raw, sink)
    if sink:
        return None, sink.sorted()
    config = build_config(raw, sink)
    if config is not None and not sink:
        from .check import check_config
        sink.extend(check_config(config))
    return (config if not sink else None), sink.sorted()


def load_config(root: str | Path, files: dict[str, str] | None = None) -> m.Config:
    config, errors = validate_folder(root, files)
    if errors or config is None:
        raise ConfigInvalid(errors)
    return config


def format_errors(errors: Iterable[ConfigError]) -> str:
    return "\n".join(str(e) for e in errors)
