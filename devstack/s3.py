"""A local S3: the moto server, either as a child process (default) or in this process (`in_process=True`).

In-process (moto's ThreadedMotoServer) is for tests that need object `LastModified` times to follow freezegun;
the child process is for everything else (demo, tests that only need a real S3 API on a port).

    svc = start_s3()                 # moto server on a free 127.0.0.1 port, ready
    s3 = svc.client()                # boto3 S3 client pointed at it
    svc.endpoint_url, svc.env()      # for Sentinel: SENTINEL_AWS_ENDPOINT_URL etc.
    with svc.enforce_iam(): ...      # requests are authenticated/authorised against moto's IAM (AccessDenied tests)
    svc.bulk_put(bucket, keys)      # in-process only: thousands of keys without thousands of HTTP puts
    svc.reset(); svc.stop()
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests

from devstack.base import ServiceUnavailable, cache_dir, free_port, spawn, wait_until

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HOST = "127.0.0.1"
# moto accepts any credentials while IAM enforcement is off; these are the conventional fake ones.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


@dataclass
class S3Service:
    endpoint_url: str
    in_process: bool
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def client(self, *, access_key_id: str | None = None, secret_access_key: str | None = None) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key_id or self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3}),
        )

    def iam_client(self) -> Any:
        import boto3

        return boto3.client(
            "iam", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
        )

    def env(self) -> dict[str, str]:
        """SENTINEL_* settings that point Sentinel's S3 source at this server."""
        return {
            "SENTINEL_AWS_ENDPOINT_URL": self.endpoint_url,
            "SENTINEL_AWS_REGION": self.region,
            "SENTINEL_AWS_ACCESS_KEY_ID": self.access_key_id,
            "SENTINEL_AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def create_user_without_permissions(self, name: str) -> tuple[str, str]:
        """An IAM user with an access key and no policy at all: with enforce_iam() every S3 call is AccessDenied."""
        iam = self.iam_client()
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    @contextlib.contextmanager
    def enforce_iam(self) -> Iterator[None]:
        """Inside the block moto authenticates and authorises every request against its IAM (like real AWS)."""
        self._set_auth("0")
        try:
            yield
        finally:
            self._set_auth("inf")

    def _set_auth(self, count: str) -> None:
        requests.post(f"{self.endpoint_url}/moto-api/reset-auth", data=count, timeout=10).raise_for_status()

    def bulk_put(self, bucket: str, keys: Iterable[str], body: bytes = b"x", *,
                 last_modified: datetime | None = None) -> int:
        """Create many objects fast through moto's backend (in-process server only; ~100x faster than HTTP puts).

        For seeding thousands of keys; reads still go through the S3 API. LastModified is `last_modified` when
        given (aware), else "now" as moto sees it (follows freezegun).
        """
        if not self.in_process:
            raise RuntimeError("bulk_put needs the in-process server (start_s3(in_process=True))")
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        count = 0
        stamp = last_modified.astimezone(UTC).replace(tzinfo=None) if last_modified else None  # moto keeps naive UTC
        for key in keys:
            obj = backend.put_object(bucket, key, body)
            if stamp is not None:
                obj.last_modified = stamp
            count += 1
        return count

    def stop(self) -> None:
        self._stop()


def _ready(endpoint_url: str) -> bool:
    return requests.get(f"{endpoint_url}/moto-api/data.json", timeout=2).status_code == 200


def start_s3(*, in_process: bool = False, port: int | None = None, timeout: float = 30.0) -> S3Service:
    """Start a moto server on a free 127.0.0.1 port and wait until it answers. Raises ServiceUnavailable."""
    port = port or free_port()
    endpoint_url = f"http://{HOST}:{port}"
    if in_process:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - dev dependency missing
            raise ServiceUnavailable(f"moto[server] is not installed ({exc}); install the dev extras") from exc
        server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        try:
            server.start()
            wait_until(lambda: _ready(endpoint_url), what=f"in-process moto server on {endpoint_url}", timeout=timeout)
        except Exception as exc:
            with contextlib.suppress(Exception):
                server.stop()
            raise ServiceUnavailable(f"in-process moto server on {endpoint_url} did not start: {exc}") from exc
        return S3Service(endpoint_url, in_process=True, _stop=server.stop)

    log = cache_dir("moto") / f"moto-{port}.log"
    proc = spawn("moto", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)], log=log)
    try:
        wait_until(lambda: _ready(endpoint_url), what=f"moto server on {endpoint_url}", timeout=timeout,
                   proc=proc.popen, log=log)
    except ServiceUnavailable:
        proc.stop()
        raise
    return S3Service(endpoint_url, in_process=False, _stop=proc.stop)
