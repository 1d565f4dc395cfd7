"""Changing the configuration from the web UI: browse, check, review, apply, history, roll back.

    admin = ConfigAdmin(engine, permissions, running_config)
    base, files = admin.documents(actor)                    # the active revision's files
    errors = admin.check(actor, "entities/deal.yaml", text)  # the real validator, whole folder
    review = admin.review(actor, "entities/deal.yaml", text, base="7")   # diff + plan + scenario tests
    rev = admin.apply(actor, "entities/deal.yaml", text, base="7", reason="...", confirm=False)
    admin.history(actor); admin.review_rollback(actor, "3"); admin.rollback(actor, "3", base="7", reason="...")
    admin.new_document(actor, "entities/vehicle.yaml")      # a path a new document may take (else 422)
    admin.review(actor, "entities/vehicle.yaml", text, base="7", new=True)   # then apply(..., new=True)

Administrators only: every method checks first and raises Forbidden for
anyone else, so no page can forget it. The edited document replaces its file
in the active revision's files and the whole folder is validated exactly like
a pushed folder; applying goes through `revisions.push` (validate, scenario
tests, plan, apply, record) with `base` = the revision the editor started
from, so two admins editing at once get a `RevisionConflict`, never a silent
overwrite. Before the first revision is pushed, the configuration the server
runs is the starting point.

A new document (`new=True`) takes a path that does not exist yet: `folder/name.yaml`
with the folder one of NEW_FOLDERS and a lowercase name; anything else (an
existing path, `..`, an absolute path, another folder or suffix) is refused
with the reason before anything is validated, so `crm config pull` can never
be made to write outside the configuration folder.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy import Engine

from ..metadata import model as m
from ..metadata.errors import ConfigError
from ..metadata.loader import validate_folder
from . import revisions as rv
from .actor import Actor
from .errors import Forbidden, NotFound, ValidationFailed
from .permissions import Permissions
from .plan import Plan, plan_migration

ROOT = "."      # errors name files relative to the configuration folder: entities/deal.yaml:3:5
# Where the editor may create a document (templates are not YAML; crm.yaml and roles.yaml exist already).
NEW_FOLDERS = ("entities", "pipelines", "approvals", "alerts", "reports", "tests")
NEW_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\.yaml")


@dataclass(frozen=True, slots=True)
class TestResult:
    name: str
    file: str
    passed: bool
    reason: str


@dataclass(slots=True)
class Review:
    """What applying a change would do: its errors, diff, migration plan and scenario tests."""

    base: rv.Revision | None                   # the revision the change is based on
    files: dict[str, str]                      # the whole configuration after the change
    errors: list[ConfigError] = field(default_factory=list)
    diff: str = ""
    plan: Plan | None = None
    tests: list[TestResult] = field(default_factory=list)
    conflict: str | None = None                # someone else's revision became active meanwhile

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    @property
    def tests_failed(self) -> list[TestResult]:
        return [t for t in self.tests if not t.passed]

    @property
    def can_apply(self) -> bool:
        return (self.changed and not self.conflict and not self.errors and not self.tests_failed
                and self.plan is not None and not self.plan.refused)

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.plan and self.plan.needs_confirmation)


class ConfigAdmin:
    """The configuration editing service of one database (administrators only)."""

    def __init__(self, engine: Engine, permissions: Permissions, running: m.Config):
        self.engine = engine
        self.permissions = permissions
        self.running = running

    # -- reading -----------------------------------------------------------------------------
    def documents(self, actor: Actor) -> tuple[rv.Revision | None, dict[str, str]]:
        """The active revision and its files (the running configuration's before the first push)."""
        self._admin(actor)
        current = rv.active(self.engine)
        return current, dict(current.files if current else self.running.files)

    def document(self, actor: Actor, path: str) -> tuple[rv.Revision | None, str]:
        current, files = self._files_with(actor, path)
        return current, files[path]

    def new_document(self, actor: Actor, path: str) -> tuple[rv.Revision | None, str]:
        """The active revision and the (empty) text of a new document at `path`; 422 for a path it may not take."""
        current, _ = self._files_with(actor, path, new=True)
        return current, ""

    def check(self, actor: Actor, path: str, text: str, *, new: bool = False) -> list[ConfigError]:
        """Every error of the whole configuration with `path` holding `text`."""
        _, files = self._files_with(actor, path, new=new)
        return _validate({**files, path: text})[1]

    def history(self, actor: Actor) -> list[tuple[rv.Revision, str]]:
        """Every revision, newest first, with the diff from its parent's content."""
        self._admin(actor)
        revisions = rv.log(self.engine)
        by_hash = {}
        for rev in reversed(revisions):
            by_hash.setdefault(rev.revision, rev)
        return [(rev, files_diff(by_hash[rev.parent].files if rev.parent in by_hash else {}, rev.files))
                for rev in revisions]

    # -- reviewing ---------------------------------------------------------------------------
    def review(self, actor: Actor, path: str, text: str, base: str | None, *, new: bool = False) -> Review:
        """Validation, diff, plan and scenario tests of one document's new text, nothing applied."""
        current, files = self._files_with(actor, path, new=new)
        return self._review(current, files, {**files, path: text}, base, run_tests=True)

    def review_rollback(self, actor: Actor, ref: str, base: str | None) -> tuple[rv.Revision, Review]:
        """What returning to revision `ref` would do (its tests passed when it was first pushed)."""
        self._admin(actor)
        target = rv.find(self.engine, ref)
        current, files = self.documents(actor)
        return target, self._review(current, files, dict(target.files), base, run_tests=False)

    def _review(self, current: rv.Revision | None, files: Mapping[str, str], new_files: dict[str, str],
                base: str | None, *, run_tests: bool) -> Review:
        review = Review(current, new_files, diff=files_diff(files, new_files))
        try:
            self._check_base(current, base)
        except rv.RevisionConflict as exc:
            review.conflict = exc.message
            return review
        config, review.errors = _validate(new_files)
        if config is None or not review.changed:
            return review
        if run_tests and config.tests:
            # Kept by content: applying these exact files right after reuses this run (scenario_results.py)
            from .scenario_results import scenario_outcomes
            review.tests = [TestResult(o.name, o.file, o.passed, o.reason) for o in scenario_outcomes(config)]
        review.plan = plan_migration(self.engine, config, self._previous(current))
        return review

    # -- applying ----------------------------------------------------------------------------
    def apply(self, actor: Actor, path: str, text: str, *, base: str | None, reason: str,
              confirm: bool = False, new: bool = False) -> rv.Revision:
        """Pushes the configuration with `path` holding `text` as a new revision (see revisions.push)."""
        current, files = self._files_with(actor, path, new=new)
        reason = _required_reason(reason)
        self._check_base(current, base)
        _, errors = _validate({**files, path: text})
        if errors:
            raise rv.RevisionRefused(f"{path} is not valid; nothing was changed", tuple(str(e) for e in errors))
        return rv.push(self.engine, {**files, path: text}, author=actor.username, reason=reason,
                       confirm=confirm, base=base or None)

    def rollback(self, actor: Actor, ref: str, *, base: str | None, reason: str,
                 confirm: bool = False) -> rv.Revision:
        self._admin(actor)
        reason = _required_reason(reason)
        self._check_base(rv.active(self.engine), base)
        return rv.rollback(self.engine, ref, author=actor.username, reason=reason, confirm=confirm,
                           base=base or None)

    # -- helpers -----------------------------------------------------------------------------
    def _admin(self, actor: Actor) -> None:
        if not self.permissions.is_admin(actor):
            raise Forbidden("only administrators change the configuration")

    def _files_with(self, actor: Actor, path: str, *, new: bool = False
                    ) -> tuple[rv.Revision | None, dict[str, str]]:
        """The active files; `path` must be one of them, or with `new` a path a new document may take."""
        current, files = self.documents(actor)
        if new:
            problem = new_path_problem(path, files)
            if problem:
                raise ValidationFailed({"path": [problem]})
        elif path not in files:
            raise NotFound(f"the configuration has no file {path}")
        return current, files

    def _previous(self, current: rv.Revision | None) -> m.Config | None:
        """What the database was last migrated to, so the plan sees removed options (as push does)."""
        if current is None:
            return self.running
        try:
            return rv.config_of(current.files, root=ROOT)
        except rv.RevisionRefused:
            return None

    def _check_base(self, current: rv.Revision | None, base: str | None) -> None:
        """`base` (a row number) must still be the active revision; revisions.push checks it again
        under the migration lock. Before the first revision there is no base to name."""
        if base and (current is None or base.lstrip("#") != str(current.id)):
            raise rv.RevisionConflict(
                f"this change was made on revision #{base.lstrip('#')}, but "
                + (f"revision #{current.id} ({current.author or '-'}: {current.reason or ''}) is active now"
                   if current else "there is no active revision now")
                + "; someone else changed the configuration meanwhile. Nothing was changed: open the "
                "document again, redo your change on the current version, and apply it.")
        if not base and current is not None:
            raise rv.RevisionConflict(
                f"revision {current.revision} became active while this change was being made on the "
                "configuration the server started with; nothing was changed (open the document again, "
                "redo the change, and apply it)")


def new_path_problem(path: str, files: Mapping[str, str]) -> str | None:
    """Why a new document may not be at `path` (None: it may). Only `folder/name.yaml` passes."""
    shown = path if len(path) <= 80 else path[:77] + "..."
    if not path:
        return "give the new document's path, like entities/vehicle.yaml"
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
        return f"{shown}: the path must be relative to the configuration folder, like entities/vehicle.yaml"
    parts = path.split("/")
    if "\\" in path or any(p in ("", ".", "..") for p in parts):
        return f"{shown}: '..', '.', '\\' and empty parts are not allowed in a path"
    if len(parts) != 2 or parts[0] not in NEW_FOLDERS:
        return f"{shown}: a new document goes in one of the folders {', '.join(NEW_FOLDERS)} (folder/name.yaml)"
    if not NEW_NAME.fullmatch(parts[1]):
        return (f"{shown}: the file name must be lowercase letters, digits and _ (starting with a letter, "
                "at most 40) ending in .yaml, like vehicle.yaml")
    if path in files or path[:-5] + ".yml" in files:
        return f"{path} already exists: open it from the configuration page to change it"
    return None


def _validate(files: dict[str, str]) -> tuple[m.Config | None, list[ConfigError]]:
    return validate_folder(ROOT, files=files)

def _required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["say why: the reason is kept in the history"]})
    return reason


def files_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A unified diff of every file that differs (added and removed files included)."""
    out: list[str] = []
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old == new:
            continue
        out.extend(difflib.unified_diff(
            (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
            fromfile=f"a/{rel}" if old is not None else "/dev/null",
            tofile=f"b/{rel}" if new is not None else "/dev/null"))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
    return "".join(out)


def errors_in(errors: list[ConfigError], path: str) -> tuple[list[ConfigError], list[ConfigError]]:
    """The errors located in `path`, and those in other files (a reference this edit broke)."""
    mine = [e for e in errors if _same_file(e.location.file, path)]
    return mine, [e for e in errors if not _same_file(e.location.file, path)]


def _same_file(shown: str, path: str) -> bool:
    return shown == path or shown.endswith("/" + path)
