"""The generated web UI: Starlette + Jinja2 + htmx over the runtime services.

`create_app` (ui/app.py) is the entry point; `crm serve` runs it with uvicorn.
"""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
