"""`crm serve`: load the configuration, open the database, run the UI with uvicorn.

    crm serve --config configs --db sqlite:///var/crm.sqlite3 --host 127.0.0.1 --port 8000

One process; for more, run several behind a proxy with a shared
CRM_SECRET_KEY (see `secret.py`). Problems a user can fix (an invalid
configuration, an unmigrated database, a bad key) print one message and
exit with status 1.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from sqlalchemy import inspect


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_dir: str = "configs"
    db_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    secure_cookies: bool = False
    access_log: bool = True        # False: no line per request (benchmarks, or a proxy logs them)


def serve(options: ServeOptions) -> int:
    import uvicorn

    from engine.metadata.errors import ConfigInvalid
    from engine.metadata.loader import load_config
    from engine.runtime.db import make_engine
    from engine.runtime.tables import USERS

    from .app import create_app
    from .secret import SecretKeyError, load_secret_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(options.config_dir)
        secret_key = load_secret_key()
    except (ConfigInvalid, SecretKeyError) as exc:
        print(exc, file=sys.stderr)
        return 1
    engine = make_engine(options.db_url)
    if not inspect(engine).has_table(USERS):
        print("the database has no engine tables yet: run `crm migrate` first", file=sys.stderr)
        return 1
    app = create_app(config, engine, secret_key=secret_key, secure_cookies=options.secure_cookies)
    uvicorn.run(app, host=options.host, port=options.port, proxy_headers=True, log_config=None,
                access_log=options.access_log)
    return 0
