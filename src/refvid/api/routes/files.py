"""FoxAPI-compatible uploads (spec §7) and the signed URLs that serve them back.

Uploaded files live 72 h. Their URL may be used in any `*_urls` field: the worker resolves it internally
(no HTTP round trip, no SSRF exposure).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from refvid.api.deps import Owner, RuntimeDep, parse_body, read_json_body
from refvid.api.errors import ApiError, documented_errors
from refvid.api.present import base_url
from refvid.api.schemas import FileObject, UploadBase64Request, UploadUrlRequest
from refvid.errors import ReferenceFailure
from refvid.media.fetch import Fetcher
from refvid.media.probe import sniff
from refvid.runtime import Runtime
from refvid.storage.signing import signed_query, verify

router = APIRouter()
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
BASE64_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 64 * 1024  # base64 of the largest upload, plus JSON
ERRORS = documented_errors(400, 401, 413, 422)
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "mp4": "video/mp4",
                 "mov": "video/quicktime", "mp3": "audio/mpeg", "wav": "audio/wav"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_filename(name: str | None, fmt: str) -> str:
    stem = _SAFE_NAME.sub("_", Path(name or "").name).strip("._")[:100] or "file"
    extension = {"jpeg": "jpg"}.get(fmt, fmt)
    return stem if stem.lower().endswith("." + extension) else f"{stem}.{extension}"


def _store_upload(runtime: Runtime, owner: str, source: Path, name: str | None, request: Request) -> FileObject:
    with source.open("rb") as fh:
        fmt = sniff(fh.read(64))
    if fmt not in CONTENT_TYPES:
        raise ApiError(422, "unsupported file type: upload JPEG, PNG, WebP, MP4, MOV, MP3 or WAV",
                       "unsupported_file_type", "file")
    file_id = "file-" + secrets.token_hex(12)
    filename = _safe_filename(name, fmt)
    key = f"uploads/{file_id}/{filename}"
    runtime.blobs.put_file(key, source, CONTENT_TYPES[fmt])
    now = time.time()
    expires_at = int(now + runtime.settings.upload_ttl_s)
    size = source.stat().st_size
    runtime.store.insert_file({"id": file_id, "owner": owner, "filename": filename, "blob_key": key,
                               "size_bytes": size, "content_type": CONTENT_TYPES[fmt], "created_at": now,
                               "expires_at": expires_at})
    path = f"/v1/files/{file_id}/{filename}"
    url = f"{base_url(request, runtime)}{path}?{signed_query(runtime.signing_secret, path, expires_at)}"
    return FileObject(id=file_id, filename=filename, url=url, size=size, created=int(now), expires_at=expires_at)


def _temp_file(runtime: Runtime) -> Path:
    folder = runtime.settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    os.close(fd)
    return Path(name)


@router.post("/v1/files/upload/stream", response_model=FileObject, responses=ERRORS, summary="Upload (multipart)")
async def upload_stream(request: Request, owner: Owner, runtime: RuntimeDep) -> FileObject:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise ApiError(413, f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file_too_large")
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise ApiError(400, "send multipart/form-data with a 'file' part", "invalid_content_type")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:
        raise ApiError(400, f"could not read the multipart body: {exc}", "invalid_multipart") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "the multipart body needs a 'file' part", "missing_required_parameter", "file")
    target = _temp_file(runtime)
    try:
        size = 0
        with target.open("wb") as out:
            while chunk := await upload.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ApiError(413, f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
                                   "file_too_large", "file")
                out.write(chunk)
        name = form.get("file_name")
        filename = name if isinstance(name, str) and name else upload.filename
        return await run_in_threadpool(_store_upload, runtime, owner, target, filename, request)
    finally:
        target.unlink(missing_ok=True)
        await form.close()


@router.post("/v1/files/upload/base64", response_model=FileObject, responses=ERRORS, summary="Upload (base64)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/UploadBase64Request"}}}}})
async def upload_base64(request: Request, owner: Owner, runtime: RuntimeDep) -> FileObject:
    body = await read_json_body(request, BASE64_BODY_BYTES)
    req = parse_body(UploadBase64Request, body)
    data = req.file_data.split(",", 1)[1] if req.file_data.startswith("data:") else req.file_data
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "file_data is not valid base64", "invalid_file_data", "file_data") from exc
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file_too_large")
    target = _temp_file(runtime)
    try:
        target.write_bytes(raw)
        return await run_in_threadpool(_store_upload, runtime, owner, target, req.file_name, request)
    finally:
        target.unlink(missing_ok=True)


@router.post("/v1/files/upload/url", response_model=FileObject, responses=ERRORS, summary="Upload from a URL",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/UploadUrlRequest"}}}}})
async def upload_url(request: Request, owner: Owner, runtime: RuntimeDep) -> FileObject:
    req = parse_body(UploadUrlRequest, await read_json_body(request, BASE64_BODY_BYTES))  # data: URLs too
    target = _temp_file(runtime)

    def fetch_and_store() -> FileObject:
        try:
            Fetcher(runtime.settings).fetch(req.url, target, label="url", max_bytes=MAX_UPLOAD_BYTES)
        except ReferenceFailure as exc:
            status = 413 if exc.code == "reference_too_large" else 422
            raise ApiError(status, exc.message, exc.code, "url") from exc
        name = req.file_name or Path(req.url.split("?")[0]).name
        return _store_upload(runtime, owner, target, name, request)

    try:
        return await run_in_threadpool(fetch_and_store)
    finally:
        target.unlink(missing_ok=True)


@router.get("/v1/files/{file_id}/{name}", summary="Download an upload (signed URL)",
            responses={200: {"content": {"application/octet-stream": {}}}, 403: {}, 404: {}, 410: {}})
def get_upload(file_id: str, name: str, runtime: RuntimeDep, expires: str | None = None,
               sig: str | None = None) -> Response:
    state = verify(runtime.signing_secret, f"/v1/files/{file_id}/{name}", expires, sig)
    if state != "ok":
        raise ApiError(403 if state == "invalid" else 410, f"{state} file URL", f"url_{state}")
    row = runtime.store.get_file(file_id)
    if row is None or row["filename"] != name or float(row["expires_at"]) < time.time():
        raise ApiError(404, f"file {file_id} not found", "file_not_found")
    local = runtime.blobs.local_path(row["blob_key"])
    if local is not None:
        return FileResponse(local, media_type=row["content_type"] or "application/octet-stream")
    presigned = runtime.blobs.presigned_url(row["blob_key"], 3600)
    if presigned:
        return RedirectResponse(presigned, status_code=307)
    raise ApiError(404, f"file {file_id} not found", "file_not_found")
