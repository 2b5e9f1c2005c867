"""FoxAPI-compatible uploads (spec §7) and the signed URLs that serve them back.

Uploaded files live 72 h. Their URL may be used in any `*_urls` field: the worker resolves it internally
(no HTTP round trip, no SSRF exposure).
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from refvid.api.body import parse_body, read_json_body
from refvid.api.body_strings import held_string
from refvid.api.deps import CallerDep, RuntimeDep
from refvid.api.errors import ApiError, documented_errors
from refvid.api.head import add_head_route
from refvid.api.inline_media import payload_start
from refvid.api.multipart_stream import receive_multipart
from refvid.api.schemas import FileObject, UploadBase64Request, UploadUrlRequest
from refvid.api.store_calls import store_op
from refvid.api.uploads import (
    BODY_UPLOADS_PER_KEY,
    MAX_UPLOAD_BYTES,
    URL_FETCHES_PER_KEY,
    Upload,
    UploadSlots,
    copy_upload,
    decode_base64_to,
    decode_held_to,
    drain_body,
    record_uploads,
    request_base,
    temp_file,
    too_large,
)
from refvid.errors import ReferenceFailure
from refvid.storage.signing import verify
from refvid.tasks.store.files import get_file

router = APIRouter(responses=documented_errors(429))  # any authenticated request may be rate-limited
BASE64_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 64 * 1024  # base64 of the largest upload, plus JSON
ERRORS = documented_errors(400, 401, 413, 422, 429, 507)
# Served files are named and typed by us, never by the uploader: `nosniff` stops a browser from running an
# HTML payload that starts with a PNG signature, and `attachment` stops it from rendering one in our origin.
SERVED_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}


@router.post("/v1/files/upload/stream", response_model=FileObject, responses=ERRORS, summary="Upload (multipart)")
async def upload_stream(request: Request, caller: CallerDep) -> FileObject:
    owner, runtime = caller.owner, caller.runtime
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_UPLOAD_BYTES + 64 * 1024):
        await drain_body(request, started=False)
        raise too_large()
    slots = UploadSlots.of(request)
    async with slots.slot(owner, "body", BODY_UPLOADS_PER_KEY):
        target = temp_file(runtime)
        try:
            upload = await receive_multipart(request, target, MAX_UPLOAD_BYTES)
            name = upload.fields.get("file_name") or upload.filename
            base = request_base(request, runtime)
            copied = await slots.store(lambda: copy_upload(runtime, owner, target, name, base))
            await record_uploads(request, [copied])
            return copied.file
        finally:
            target.unlink(missing_ok=True)


@router.post("/v1/files/upload/base64", response_model=FileObject, responses=ERRORS, summary="Upload (base64)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/UploadBase64Request"}}}}})
async def upload_base64(request: Request, caller: CallerDep) -> FileObject:
    owner, runtime = caller.owner, caller.runtime
    slots = UploadSlots.of(request)
    async with slots.slot(owner, "body", BODY_UPLOADS_PER_KEY):
        body = await read_json_body(request, BASE64_BODY_BYTES, keep={"file_data": True})  # held as bytes
        req = parse_body(UploadBase64Request, body)
        data, held = req.file_data, held_string(req.file_data)  # judged and decoded in place, never copied
        start = payload_start(data) if data.startswith("data:") else 0
        base = request_base(request, runtime)

        def decode_and_copy() -> Upload:
            target = temp_file(runtime)
            try:
                if held is not None:
                    decode_held_to(held, target, MAX_UPLOAD_BYTES, "file_data")
                else:
                    decode_base64_to(data, target, MAX_UPLOAD_BYTES, "file_data", start)
                return copy_upload(runtime, owner, target, req.file_name, base)
            finally:
                target.unlink(missing_ok=True)

        upload = await slots.store(decode_and_copy)
    await record_uploads(request, [upload])
    return upload.file


@router.post("/v1/files/upload/url", response_model=FileObject, responses=ERRORS, summary="Upload from a URL",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/UploadUrlRequest"}}}}})
async def upload_url(request: Request, caller: CallerDep) -> FileObject:
    """The fetch runs on the upload pool, never on a request thread, and each key has a few at a time."""
    owner, runtime = caller.owner, caller.runtime
    req = parse_body(UploadUrlRequest, await read_json_body(request, BASE64_BODY_BYTES))  # data: URLs too
    slots = UploadSlots.of(request)
    base = request_base(request, runtime)
    async with slots.slot(owner, "url", URL_FETCHES_PER_KEY):
        target = temp_file(runtime)

        def fetch_and_copy() -> Upload:
            try:
                slots.fetcher(runtime.settings).fetch(req.url, target, label="url", max_bytes=MAX_UPLOAD_BYTES)
            except ReferenceFailure as exc:
                status = 413 if exc.code == "reference_too_large" else 422
                raise ApiError(status, exc.message, exc.code, "url") from exc
            name = req.file_name or Path(req.url.split("?")[0]).name
            return copy_upload(runtime, owner, target, name, base, param="url")

        try:
            upload = await slots.fetch(fetch_and_copy)
        finally:
            target.unlink(missing_ok=True)
    await record_uploads(request, [upload])
    return upload.file


@router.get("/v1/files/{file_id}/{name}", summary="Download an upload (signed URL)",
            responses={200: {"content": {"application/octet-stream": {}}}, 403: {}, 404: {}, 410: {}})
async def get_upload(file_id: str, name: str, request: Request, runtime: RuntimeDep, expires: str | None = None,
               sig: str | None = None) -> Response:
    state = verify(runtime.signing_secret, f"/v1/files/{file_id}/{name}", expires, sig)
    if state != "ok":
        raise ApiError(403 if state == "invalid" else 410, f"{state} file URL", f"url_{state}")
    row = await store_op(request, get_file(file_id))
    if row is None or row["filename"] != name or float(row["expires_at"]) < time.time():
        raise ApiError(404, f"file {file_id} not found", "file_not_found")
    local = runtime.blobs.local_path(row["blob_key"])
    if local is not None:
        return FileResponse(local, media_type=row["content_type"] or "application/octet-stream",
                            filename=row["filename"], headers=SERVED_FILE_HEADERS)
    presigned = runtime.blobs.presigned_url(row["blob_key"], 3600)
    if presigned:
        return RedirectResponse(presigned, status_code=307)
    raise ApiError(404, f"file {file_id} not found", "file_not_found")


add_head_route(router, "/v1/files/{file_id}/{name}", get_upload)
