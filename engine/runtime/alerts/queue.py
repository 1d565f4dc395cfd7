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
import time
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

    def __init__(self, huey: Huey, service: AlertService | Callable[[], AlertService], *, follow: bool = False):
        """`service`, or a factory called on first use; `follow=True` calls the factory on every use
        (an `ActiveAlertService`, which hands out a new service when the configuration revision changed)."""
        self.huey = huey
        self._service = service if isinstance(service, AlertService) else None
        self._factory = None if isinstance(service, AlertService) else service
        self._follow = follow and self._factory is not None
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

        # Approval requests past `expires` (workflow/approvals.py): one audited UPDATE, then the
        # requesters are told through the outbox (alerts/approval_notices.py).
        def crm_expire_approvals() -> int:
            return self.service.expire_approvals()

        self.expire_approvals = huey.periodic_task(crontab(minute="*"), name="crm.expire_approvals")(
            crm_expire_approvals)

        # Forecast snapshots (reports/forecast_snapshots.py): one per forecast per company day; a run
        # after the day's snapshot exists is one lookup, so every 10 minutes costs nothing and a
        # worker started late in the day still takes it.
        def crm_forecast_snapshots() -> int:
            from ..reports import Reports
            from ..reports.forecast_snapshots import take_snapshots
            records = self.service.records
            return take_snapshots(Reports(records.config, records.engine, records.tables,
                                          permissions=records.permissions, clock=self.service.clock))

        # Dashboard digests (alerts/digests.py): due moments claimed once per recipient, then the outbox.
        def crm_digests() -> int:
            from .digests import Digests
            return Digests(self.service).run_due().queued

        self.forecast_snapshots = huey.periodic_task(crontab(minute="*/10"),
                                                     name="crm.forecast_snapshots")(crm_forecast_snapshots)
        self.digests = huey.periodic_task(crontab(minute="*"), name="crm.digests")(crm_digests)

    @property
    def service(self) -> AlertService:
        with self._lock:
            if self._service is None or self._follow:
                assert self._factory is not None
                service = self._factory()
                if service is not self._service:
                    service.on_pending = self.enqueue_delivery
                    self._service = service
            return self._service

    def enqueue_delivery(self) -> None:
        self.deliver()


def build_alert_service(config_dir: str, db_url: str | None) -> AlertService:
    """The services a worker needs for the configuration in `config_dir`, built like the web process builds them."""
    from ...metadata.loader import load_config
    from ..db import make_engine
    return alert_service_for(load_config(config_dir), make_engine(db_url))


def alert_service_for(config: Any, engine: Any) -> AlertService:
    """An alert service over `config`'s records, wired like the web process's (records made by `also`
    actions fire their own event alerts)."""
    from ..records import Records
    from ..tables import build_tables
    tables = build_tables(config)
    records = Records(config, engine, tables)
    workflow = None
    try:    # pipelines/approvals/assignment checks, so records made by `also` are saved by the same rules
        from ..workflow import Workflow
        workflow = Workflow(config, engine, tables, records)
    except Exception:   # noqa: BLE001 - a worker without workflow rules still delivers alerts
        log.warning("workflow rules not installed in the worker", exc_info=True)
    service = AlertService(records)
    if workflow is not None:
        service.follow_approvals(workflow.approvals)    # expiry (crm.expire_approvals) and its notices
    return service


class ActiveAlertService:
    """The alert service of the database's active configuration revision, for a long-running worker.

    Called before each task (`Jobs(..., follow=True)`): at most every `interval` seconds it reads
    the active revision's hash (one small query) and, when another revision became active, builds
    a new service for it, so scans and templates follow what admins apply without a restart.
    A database without revisions (only `crm migrate` ran) is served from `config_dir`.
    """

    def __init__(self, db_url: str | None, config_dir: str | None = "configs", *, interval: float = 0.5):
        from ..db import make_engine
        self.engine = make_engine(db_url)
        self.config_dir = config_dir
        self.interval = interval
        self._service: AlertService | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> AlertService:
        with self._lock:
            now = time.monotonic()
            if self._service is not None and now - self._checked < self.interval:
                return self._service
            self._checked = now
            try:
                self._service = self._current()
            except Exception:   # noqa: BLE001 - keep the service that works; the next check retries
                if self._service is None:
                    raise
                log.exception("could not follow the configuration revision; keeping %s",
                              self._service.config.revision)
            return self._service

    def _current(self) -> AlertService:
        from .. import revisions
        if self._service is not None and revisions.active_hash(self.engine) in (None, self._service.config.revision):
            return self._service        # the usual case: one small query, nothing changed
        wanted = revisions.active(self.engine)
        if wanted is not None:
            config = revisions.config_of(wanted.files, root=f"revision {wanted.revision}")
        elif self.config_dir is not None:
            from ...metadata.loader import load_config
            config = load_config(self.config_dir)
        else:
            raise revisions.NoRevision("the database has no configuration revision and no folder was given")
        if self._service is not None:
            log.info("worker now runs configuration revision %s (was %s)", config.revision,
                     self._service.config.revision)
        return alert_service_for(config, self.engine)


def cmd_worker(args: Any) -> int:
    """`crm worker`: a huey consumer running the alert scans (every minute) and deliveries."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ..db import database_url
    huey = make_huey(queue_file=args.queue_file, db_url=database_url(args.db))
    Jobs(huey, ActiveAlertService(args.db, args.config), follow=True)
    print(f"crm worker: {type(huey).__name__}, {args.workers} thread(s); Ctrl+C stops", flush=True)
    huey.create_consumer(workers=args.workers, worker_type="thread", periodic=True).run()
    return 0


def start_consumer(db_url: str | None, config_dir: str | None, *, workers: int = 2,
                   queue_file: str | Path | None = None) -> Callable[[], None]:
    """The `crm worker` consumer started inside another process (`crm serve --worker`); returns `stop`.

    Its threads run beside the web server's; the process's signal handlers stay the server's
    (huey would install its own), so Ctrl+C stops the server, which then calls `stop()`:
    running tasks finish (up to 30 s), and what is left stays queued in the database.
    """
    import signal

    from ..db import database_url
    huey = make_huey(queue_file=queue_file, db_url=database_url(db_url))
    Jobs(huey, ActiveAlertService(db_url, config_dir), follow=True)
    # max_delay: an idle SqliteHuey is polled at least every 2 s, so a queued e-mail leaves promptly.
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, shutdown_timeout=30,
                                    max_delay=2.0)
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s}
    consumer.start()
    for signum, handler in kept.items():
        signal.signal(signum, handler)
    log.info("job queue consumer running in this process: %s, %d thread(s)", type(huey).__name__, workers)

    def stop() -> None:
        consumer.stop(graceful=True)
        log.info("job queue consumer stopped")
    return stop


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
