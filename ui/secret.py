"""The key that signs session cookies.

`CRM_SECRET_KEY` when set (every worker behind a load balancer must share
it); otherwise a random key generated once into `var/secret_key`, readable by
its owner only (0600), so restarts keep everyone signed in.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Mapping

ENV_NAME = "CRM_SECRET_KEY"
MIN_LENGTH = 32


class SecretKeyError(Exception):
    """The configured key is unusable; the message says what to do."""


def load_secret_key(var_dir: Path = Path("var"), environ: Mapping[str, str] = os.environ) -> str:
    key = environ.get(ENV_NAME, "").strip()
    if key:
        if len(key) < MIN_LENGTH:
            raise SecretKeyError(f"{ENV_NAME} must be at least {MIN_LENGTH} characters "
                                 f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return key
    path = var_dir / "secret_key"
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two workers start at once, one writes and the other reads its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as fp:
        os.fchmod(fp.fileno(), 0o600)
        fp.write(secrets.token_urlsafe(48) + "\n")
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_LENGTH:
        raise SecretKeyError(f"{path} holds no usable key (under {MIN_LENGTH} characters); delete it to make a new one")
    return key
