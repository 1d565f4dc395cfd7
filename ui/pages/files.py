"""`GET /files/{id}`: an attachment's bytes, for users who may read its record (else 404).

The file is sent as an attachment (never rendered inline: an uploaded HTML or
SVG file must not run in the site's origin) with its stored content type and
`nosniff` from the security headers.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from .. import urls
from ..web import services, signed_in_actor


async def download(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    attachment, path = await run_in_threadpool(svc.files.open, actor, int(request.path_params["attachment_id"]))
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.filename,
                        content_disposition_type="attachment")


ROUTES = [Route(urls.FILE, download, methods=["GET"], name="file_download")]
