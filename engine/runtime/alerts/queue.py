"""The job queue (huey) and `crm worker`: the same tasks on every backend.

    jobs = Jobs(make_huey(), lambda: build_alert_service(config_dir, db_url))
    jobs.deliver()                  # enqueue: send the outbox soon
    huey.create_consumer(workers=2).run()    # what `crm worker` does

Backends: `CRM_REDIS_URL` set -> RedisHuey; the database is PostgreSQL ->
PostgresHuey in that database (huey >= 3.5, psycopg 3; tables `crm_jobs_*`,
which migrations leave alone like every `crm_` table); otherwise SqliteHuey in
`var/jobs.sqlite3` (workers on this machine). The queue carries only wake-ups ("scan",
"deliver", and a tick every minute): what must happen exactly once is decided
in the database (`crm_alert_firings`, `crm_outbox`), so a lost or doubled
task changes nothing but latency.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey, crontab

from .service import AlertService

log = logging.getLogger(__name__)
DEFAULT_QUEUE_FILE = Path("var") / "jobs.sqlite3"


def make_huey(*, name: str = "crm", queue_file: str | Path | None = None, immediate: bool = False,
              redis_url: str | None = None, db_url: str | None = None) -> Huey:
    """RedisHuey when `redis_url` / CRM_REDIS_URL is given; PostgresHuey (tables `crm_jobs_*`,
    LISTEN/NOTIFY wake-ups) when the database is PostgreSQL; else SqliteHuey in `queue_file`."""
    redis_url = redis_url or os.environ.get("CRM_REDIS_URL")
    if redis_url:
        return RedisHuey(name, url=redis_url, immediate=immediate)
    if db_url and db_url.startswith("postgresql"):
        dsn = "postgresql://" + db_url.split("://", 1)[1]          # libpq's URI: no SQLAlchemy driver suffix
        return PostgresHuey(name, dsn=dsn, table_prefix="crm_jobs", immediate=immediate)
    path = Path(queue_file or DEFAULT_QUEUE_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(path), immediate=immediate)


class Jobs:
    """The alert tasks registered on one huey instance; the service is built on first use (in the worker)."""

    def __init__(self, huey: Huey, service: AlertService | Callable[[], AlertService]):
        self.huey = huey
        self._service = service if isinstance(service, AlertService) else None
        self._factory = None if isinstance(service, AlertService) else service
        self._lock = threading.Lock()
        if self._service is not None and self._service.on_pending is None:
            self._service.on_pending = self.enqueue_delivery

        def crm_deliver() -> int:
            return self.service.deliver().sent

        def crm_scan() -> int:
            return self.service.run_due().firings

        def crm_tick() -> None:
            self.service.run_due()
            self.service.deliver()

        self.deliver = huey.task(name="crm.deliver")(crm_deliver)
        self.scan = huey.task(name="crm.scan")(crm_scan)
        self.tick = huey.periodic_task(crontab(minute="*"), name="crm.tick")(crm_tick)

    @property
    def service(self) -> AlertService:
        with self._lock:
            if self._service is None:
                assert self._factory is not None
                self._service = self._factory()
                self._service.on_pending = self.enqueue_delivery
            return self._service

    def enqueue_delivery(self) -> None:
        self.deliver()


def build_alert_service(config_dir: str, db_url: str | None) -> AlertService:
    """The services a worker needs, built like the web process builds them."""
    from ...metadata.loader import load_config
    from ..db import make_engine
    from ..records import Records
    from ..tables import build_tables
    config = load_config(config_dir)
    engine = make_engine(db_url)
    tables = build_tables(config)
    records = Records(config, engine, tables)
    try:    # pipelines/approvals/assignment checks, so records made by `also` are saved by the same rules
        from ..workflow import Workflow
        Workflow(config, engine, tables, records)
    except Exception:   # noqa: BLE001 - a worker without workflow rules still delivers alerts
        log.warning("workflow rules not installed in the worker", exc_info=True)
    return AlertService(records)


def cmd_worker(args: Any) -> int:
    """`crm worker`: a huey consumer running the alert scans (every minute) and deliveries."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ..db import database_url
    huey = make_huey(queue_file=args.queue_file, db_url=database_url(args.db))
    Jobs(huey, lambda: build_alert_service(args.config, args.db))
    print(f"crm worker: {type(huey).__name__}, {args.workers} thread(s); Ctrl+C stops", flush=True)
    huey.create_consumer(workers=args.workers, worker_type="thread", periodic=True).run()
    return 0


def add_worker_command(sub: Any) -> None:
    p = sub.add_parser("worker", help="run background jobs: alert scans every minute, e-mail/SMS delivery")
    p.add_argument("--config", default="configs")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    p.add_argument("--queue-file", default=None,
                   help="SqliteHuey file when CRM_REDIS_URL is not set (default var/jobs.sqlite3)")
    p.set_defaults(func=cmd_worker)


def install(records: Any, *, queue_file: str | Path | None = None) -> AlertService:
    """Event alerts for a process that saves records (the web server): they fire after each commit,
    in-app messages at once; e-mail/SMS are queued for `crm worker` (the queue is opened on first use)."""
    service = AlertService(records)
    jobs: list[Jobs] = []

    def enqueue() -> None:
        if not jobs:
            jobs.append(Jobs(make_huey(queue_file=queue_file, db_url=str(records.engine.url.render_as_string(
                hide_password=False))), service))
        jobs[0].deliver()

    service.on_pending = enqueue
    return service
