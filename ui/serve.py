"""`crm serve`: bring the database to its configuration revision, then run the UI with uvicorn.

    crm serve --config configs --db sqlite:///var/crm.sqlite3 --host 127.0.0.1 --port 8000
    crm serve --db postgresql://crm@db/crm --workers 4       # the active revision, 4 processes
    crm serve --worker                                        # plus the job queue consumer, in this process

The server runs the database's **active configuration revision** (engine/runtime/revisions.py)
and follows it live (ui/reload.py):

- `--config DIR`: when the database has no active revision, or DIR's content
  differs from it, DIR is pushed as a new revision first (author "crm serve");
  a push that needs confirmation or is refused stops here with its reason
  (exit 1): run `crm config push DIR --confirm`, or fix DIR.
- no `--config`: the active revision is served as it is (what admins applied
  wins over any folder); a database without one gets `configs/`, as with
  `--config configs`.

`--workers N` runs N uvicorn worker processes (the app is built in each by
`app_factory`, from CRM_DATABASE_URL, which this command sets); `--worker`
runs the huey consumer of `crm worker` inside this process, for one-machine
installs. Several processes or machines need a shared CRM_SECRET_KEY (see
`secret.py`). Problems a user can fix (an invalid configuration, an
unmigrated database, a refused push, a bad key) print one message and exit
with status 1.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass

from sqlalchemy import inspect

DEFAULT_CONFIG_DIR = "configs"
PUSH_AUTHOR = "crm serve"
SECURE_COOKIES_ENV = "CRM_SECURE_COOKIES"     # app_factory's --secure-cookies
NO_PAGE_MEMO_ENV = "CRM_NO_PAGE_MEMO"         # app_factory's --no-page-memo


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_dir: str | None = None   # None: serve the active revision (configs/ when there is none)
    db_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    secure_cookies: bool = False
    access_log: bool = True        # False: no line per request (benchmarks, or a proxy logs them)
    workers: int = 1               # uvicorn worker processes
    worker: bool = False           # run the job queue consumer in this process too
    worker_threads: int = 2
    page_memo: bool = True         # False: render every record page (ui/page_memo.py)


class ServeRefused(Exception):
    """The server cannot start; the message says why and what to do."""


def serve(options: ServeOptions) -> int:
    import uvicorn

    from engine.runtime.db import database_url, make_engine

    from .app import create_app
    from .secret import SecretKeyError, load_secret_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = database_url(options.db_url)
    try:
        secret_key = load_secret_key()
        folder = _folder_config(options.config_dir)
        engine = make_engine(url)
        config = served_config(engine, options.config_dir, folder)
        # A bulk import killed midway left its indexes dropped: lists would be slow and search
        # would miss its rows until the next import or migration, so finish it here too.
        from engine.runtime.import_bulk import repair_interrupted
        for line in repair_interrupted(engine):
            logging.getLogger("crm.serve").warning(line)
    except (SecretKeyError, ServeRefused) as exc:
        print(exc, file=sys.stderr)
        return 1
    stop_worker = None
    if options.worker:
        from engine.runtime.alerts.queue import start_consumer
        stop_worker = start_consumer(url, options.config_dir or DEFAULT_CONFIG_DIR, workers=options.worker_threads)
        # uvicorn shuts down on SIGTERM and then raises it again; exit through `finally` so the
        # consumer is stopped cleanly (running tasks finish) instead of dying with the default action.
        signal.signal(signal.SIGTERM, _exit_quietly)
    run = dict(host=options.host, port=options.port, proxy_headers=True, log_config=None,
               access_log=options.access_log)
    try:
        if options.workers > 1:
            # Each worker process builds its own app from the environment (uvicorn needs an import string).
            engine.dispose()
            os.environ["CRM_DATABASE_URL"] = url
            os.environ[SECURE_COOKIES_ENV] = "1" if options.secure_cookies else ""
            os.environ[NO_PAGE_MEMO_ENV] = "" if options.page_memo else "1"
            uvicorn.run("ui.serve:app_factory", factory=True, workers=options.workers, **run)
        else:
            app = create_app(config, engine, secret_key=secret_key, secure_cookies=options.secure_cookies,
                             page_memo=options.page_memo)
            freeze_startup_objects()
            uvicorn.run(app, **run)
    finally:
        if stop_worker is not None:
            stop_worker()
    return 0


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


def _folder_config(config_dir: str | None):
    """The folder's Config when `--config` was given (validated before the database is touched)."""
    from engine.metadata.errors import ConfigInvalid
    from engine.metadata.loader import load_config
    if config_dir is None:
        return None
    try:
        return load_config(config_dir)
    except ConfigInvalid as exc:
        raise ServeRefused(str(exc)) from None


def served_config(engine, config_dir: str | None, folder=None):
    """The Config to serve: the active revision, after pushing `config_dir` when it differs.

    Raises ServeRefused when the database has no engine tables, or the push is refused
    or needs confirmation (nothing was changed then).
    """
    from engine.runtime import revisions
    from engine.runtime.tables import USERS
    if not inspect(engine).has_table(USERS):
        raise ServeRefused("the database has no engine tables yet: run `crm migrate` first")
    active = revisions.active_hash(engine)
    if config_dir is None and active is not None:
        return revisions.active_config(engine)
    source = config_dir or DEFAULT_CONFIG_DIR
    if folder is None:
        folder = _folder_config(source)
    if folder.revision == active:
        return folder
    reason = (f"crm serve{' --config ' + source if config_dir else ''}: " +
              ("first revision of this database" if active is None else f"the folder differs from {active}"))
    tests = f", running its {len(folder.tests)} scenario tests" if folder.tests else ""
    print(f"crm serve: pushing {source} as a new configuration revision (validating{tests}, planning) ...",
          file=sys.stderr, flush=True)
    try:
        rev = revisions.push(engine, source, author=PUSH_AUTHOR, reason=reason)
    except revisions.RevisionRefused as exc:
        raise ServeRefused(f"{exc}\ncrm serve: {source} was not pushed and nothing was served; "
                           f"see the plan above, then run `crm config push {source}` "
                           "(with --confirm if the plan needs it) or fix the folder") from None
    logging.getLogger("crm.serve").info("pushed %s as revision #%s (%s)", source, rev.id, rev.revision)
    return folder


def app_factory():
    """The app of one uvicorn worker process (`crm serve --workers N`): the active revision of
    CRM_DATABASE_URL, session key from CRM_SECRET_KEY or var/secret_key."""
    from engine.runtime import revisions
    from engine.runtime.db import make_engine

    from .app import create_app
    from .secret import load_secret_key
    # A spawned worker process starts without the parent's logging set-up.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(os.environ.get("CRM_DATABASE_URL"))
    app = create_app(revisions.active_config(engine), engine, secret_key=load_secret_key(),
                     secure_cookies=bool(os.environ.get(SECURE_COOKIES_ENV)),
                     page_memo=not os.environ.get(NO_PAGE_MEMO_ENV))
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Moves everything built at start-up (configuration, services, SQLAlchemy tables, Babel data:
    ~140k objects) out of the cyclic garbage collector's sight: they live as long as the process,
    and each full collection (about one per 150 requests) scanned them all, on average 0.4-1.2 ms
    of a record page's ~6 ms (docs/bench-pages.md). Only for the server process: tests build many
    apps, and their garbage must stay collectable."""
    import gc
    gc.collect()
    gc.freeze()
