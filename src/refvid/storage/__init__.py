"""Blob storage for uploads and results (local disk or S3); knows nothing of tasks."""
