"""Times dashboard pages end to end (HTTP GET through the whole app, TestClient) on demo data.

    crm demo --config configs --db sqlite:////tmp/demo.sqlite3 --scale 1
    .venv/bin/python bench/dashboard_ui.py --db sqlite:////tmp/demo.sqlite3 [--runs 5]

Measures `four` (a 4-widget dashboard added to a copy of configs/: two KPIs,
a quota and a report), and the default company's `finance` (6 widgets) and
`sales_manager` (12) dashboards, signed in as a sales manager (admin for
finance). Prints the best and the median of --runs requests after one warm-up.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from engine.metadata.loader import load_config
from engine.runtime.db import make_engine
from ui.app import create_app

FOUR = """dashboard: four
label: {en: Four widgets, hu: Négy elem}
roles: [sales_manager]
widgets:
  - {kpi: win_rate}
  - {kpi: avg_deal_value}
  - {quota: activity_norms}
  - {report: activities_by_rep, size: wide}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", default="configs")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "configs"
        shutil.copytree(args.config, root)
        (root / "reports" / "four.yaml").write_text(FOUR, encoding="utf-8")
        config = load_config(root)
        app = create_app(config, make_engine(args.db), secret_key="bench-secret-key-that-is-long-enough-0123")
        for board, user in (("four", "sales_manager1"), ("finance", "admin"), ("sales_manager", "sales_manager1")):
            with TestClient(app, follow_redirects=False) as client:
                token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
                signed = client.post("/login", data={"username": user, "password": "demo1234", "csrf_token": token})
                assert signed.status_code == 303, signed.text[:300]
                warm = client.get(f"/dashboards/{board}")
                assert warm.status_code == 200, warm.text[:500]
                errors = warm.text.count('class="chart-error"')
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    assert client.get(f"/dashboards/{board}").status_code == 200
                    times.append(time.perf_counter() - start)
                widgets = len(config.dashboards[board].widgets)
                print(f"{board:14} {widgets:2} widgets  best {min(times) * 1000:6.0f} ms  "
                      f"median {statistics.median(times) * 1000:6.0f} ms  widget errors {errors}")


if __name__ == "__main__":
    main()
