"""Thin S3 client: listing keys and `dt=` partitions, with deadlines and actionable errors.

boto3 runs in its "standard" retry mode (retries throttling and 5xx with backoff) with connect/read timeouts,
and listing pages through any number of keys (ListObjectsV2 returns at most 1,000 per page). A caller deadline
(`timeout`) bounds the whole listing, not just one page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from sentinel.errors import SourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    size: int
    last_modified: datetime  # aware UTC


_PERMISSION_HINTS = {
    "AccessDenied": "the IAM principal Sentinel runs as needs s3:ListBucket on arn:aws:s3:::{bucket} "
    "(a bucket policy or an s3:prefix condition may also deny it)",
    "AllAccessDisabled": "access to bucket {bucket} is disabled for this account; check the bucket owner",
    "NoSuchBucket": "bucket {bucket} does not exist in this account/region; check the check's `bucket` param "
    "and SENTINEL_AWS_REGION (the principal also needs s3:ListBucket on arn:aws:s3:::{bucket})",
    "InvalidAccessKeyId": "the AWS access key is unknown; check SENTINEL_AWS_ACCESS_KEY_ID or the pod's IAM role",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key; check the mounted secret",
    "ExpiredToken": "the AWS session credentials expired; check the pod's IAM role / web identity token",
}


class S3Source:
    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: SecretStr | None = None,
        secret_access_key: SecretStr | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_attempts: int = 4,
        client: S3Client | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                region_name=region,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": max_attempts},  # incl. the first try
            )
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key_id.get_secret_value() if access_key_id else None,
                aws_secret_access_key=secret_access_key.get_secret_value() if secret_access_key else None,
                config=config,
            )
        self._client = client

    def iter_objects(self, bucket: str, prefix: str, *, timeout: float | None = None) -> Iterator[S3Object]:
        """Every object under `prefix`, page after page, within `timeout` seconds overall."""
        for page in self._pages(bucket, prefix, delimiter=None, timeout=timeout):
            for item in page.get("Contents", []):
                yield S3Object(key=item["Key"], size=int(item["Size"]), last_modified=item["LastModified"])

    def list_objects(self, bucket: str, prefix: str, *, timeout: float | None = None) -> list[S3Object]:
        return list(self.iter_objects(bucket, prefix, timeout=timeout))

    def list_prefixes(self, bucket: str, prefix: str, *, start_after: str | None = None,
                      timeout: float | None = None) -> list[str]:
        """Immediate "sub-folders" of `prefix` (CommonPrefixes with delimiter "/"), e.g. the dt= partitions.

        `start_after` (a full key) skips everything sorting before it: years of old dt= partitions stay unlisted.
        """
        out: list[str] = []
        for page in self._pages(bucket, prefix, delimiter="/", timeout=timeout, start_after=start_after):
            out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return out

    def _pages(self, bucket: str, prefix: str, *, delimiter: str | None, timeout: float | None,
               start_after: str | None = None) -> Iterator[Any]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        started = time.monotonic()
        paginator = self._client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if start_after:
            kwargs["StartAfter"] = start_after
        pages = 0
        try:
            for page in paginator.paginate(**kwargs):
                pages += 1
                yield page
                if timeout is not None and time.monotonic() - started > timeout:
                    raise SourceError(
                        f"listing s3://{bucket}/{prefix} took longer than {timeout:.0f}s ({pages} pages so far)",
                        hint="raise the check timeout or narrow the prefix",
                    )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            hint = _PERMISSION_HINTS.get(code, "check the bucket name, region and the IAM permission s3:ListBucket")
            raise SourceError(
                f"S3 ListObjectsV2 on s3://{bucket}/{prefix} failed: {code} (HTTP {status})",
                hint=hint.format(bucket=bucket),
            ) from None
        except NoCredentialsError:
            raise SourceError(
                f"S3 ListObjectsV2 on s3://{bucket}/{prefix}: no AWS credentials found",
                hint="give the pod an IAM role (IRSA) or set SENTINEL_AWS_ACCESS_KEY_ID / SENTINEL_AWS_SECRET_ACCESS_KEY",
            ) from None
        except BotoCoreError as exc:
            # botocore's connection errors name the endpoint URL, never credentials.
            raise SourceError(
                f"S3 ListObjectsV2 on s3://{bucket}/{prefix} failed: {type(exc).__name__}: {exc}",
                hint="check network egress to S3 (VPC endpoint / proxy) and SENTINEL_AWS_ENDPOINT_URL",
            ) from None

    def read_tail(self, bucket: str, key: str, length: int) -> bytes:
        """The last `length` bytes of an object (a ranged GET): a Parquet footer without downloading the file.

        Needs s3:GetObject on the key; errors become SourceError with the hint, like listing.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length}")["Body"]
            return bytes(body.read())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            raise SourceError(f"S3 GetObject on s3://{bucket}/{key} failed: {code}",
                              hint=f"the IAM principal needs s3:GetObject on arn:aws:s3:::{bucket}/{key}") from None
        except BotoCoreError as exc:
            raise SourceError(f"S3 GetObject on s3://{bucket}/{key} failed: {type(exc).__name__}: {exc}",
                              hint="check network egress to S3 and SENTINEL_AWS_ENDPOINT_URL") from None
