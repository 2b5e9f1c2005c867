"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2, …) under one key prefix.

`REFVID_STORAGE_URL=s3://bucket/prefix` selects it; `REFVID_S3_ENDPOINT_URL`, `REFVID_S3_ACCESS_KEY_ID`,
`REFVID_S3_SECRET_ACCESS_KEY` and `REFVID_S3_REGION` override what boto3 would otherwise read from its
usual places (AWS_* variables, ~/.aws, instance roles). Results and uploads are served to clients as
presigned GET URLs, so the bytes never pass through the API nodes. boto3 comes with the `s3` extra.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from refvid.storage.base import Removed

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix/"); the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"bad S3 storage URL {url!r}: expected s3://bucket/prefix")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3BlobStore:
    """The `BlobStore` protocol over one bucket and prefix. The boto3 client is thread-safe."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 region: str | None = None, client: Any = None):
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            # Custom endpoints (MinIO, moto, RGW) rarely have per-bucket DNS names: use path-style there.
            config = Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"},
                            s3={"addressing_style": "path" if endpoint_url else "auto"})
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key, region_name=region, config=config,
            )
        self._client = client

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, region: str | None = None) -> S3BlobStore:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, endpoint_url=endpoint_url, access_key_id=access_key_id,
                   secret_access_key=secret_access_key, region=region)

    def _key(self, key: str) -> str:
        rel = PurePosixPath(key)
        # Keys are ours, but the same rules as on disk keep both backends interchangeable.
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"invalid blob key {key!r}")
        return self.prefix + str(rel) + ("/" if key.endswith("/") else "")

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """One PUT (multipart for large files): S3 shows the whole object or none of it."""
        extra = {"ContentType": content_type} if content_type else {}
        self._client.upload_file(str(source), self.bucket, self._key(key), ExtraArgs=extra)

    def get_to(self, key: str, dest: Path) -> Path:
        try:
            self._client.download_file(self.bucket, self._key(key), str(dest))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"no blob {key!r} in s3://{self.bucket}/{self.prefix}") from exc
            raise
        return dest

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, expires_s: int) -> str | None:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=max(1, min(int(expires_s), MAX_PRESIGN_S)),
        )
        return url

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete_prefix(self, prefix: str) -> Removed:
        """Remove every object under `prefix` (or the object named `prefix`, as the disk store does)."""
        folder = self._key(prefix.rstrip("/")) + "/"
        removed = Removed()
        paginator = self._client.get_paginator("list_objects_v2")
        batch: list[dict[str, str]] = []
        # The object named `prefix` itself sorts first of all keys starting with it.
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder[:-1]):
            for item in page.get("Contents", []):
                if item["Key"] != folder[:-1] and not item["Key"].startswith(folder):
                    continue  # a sibling that merely shares the name's first characters
                batch.append({"Key": item["Key"]})
                removed += Removed(1, int(item.get("Size", 0)))
                if len(batch) == _DELETE_BATCH:
                    self._delete(batch)
                    batch = []
        if batch:
            self._delete(batch)
        return removed

    def list_folders(self, prefix: str, after: str | None, limit: int) -> list[str]:
        folder = self._key(prefix.rstrip("/")) + "/"
        # "/" + 1 is "0": every key of folder `after` sorts before `…after0`, and no other key between them.
        start = {"StartAfter": f"{folder}{after}0"} if after is not None else {}
        names: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder, Delimiter="/", **start):
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(folder):-1])
                if len(names) == limit:
                    return names
        return names

    def _delete(self, batch: list[dict[str, str]]) -> None:
        self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
