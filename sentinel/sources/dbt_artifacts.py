"""dbt artifacts from a local directory or an S3 prefix, newest run first.

A location is either a directory (`/var/dbt/target`) or `s3://bucket/prefix/` where the dbt job uploads
its `target/`. Runs may sit directly there or in sub-folders (`prefix/2026-11-25T10:00/run_results.json`):
the newest `run_results.json` (by modification time, then by path) is the run, `manifest.json` must sit beside
it, and `sources.json` is taken beside it or else the newest one under the location.

    artifacts = DbtArtifactsSource("s3://novapay-dbt/prod/", settings=settings).load(timeout=20)
    artifacts.run_results.generated_at, artifacts.manifest.node(uid), artifacts.sources

Reads have deadlines: S3 uses boto3's standard retry mode with connect/read timeouts, and listing is bounded
by the caller's timeout. Errors are SourceError / ArtifactError (file + version found), never secrets.

Listing walks every object under the prefix (dbt's compiled/ and run/ folders are skipped, not avoided), so keep
the location to artifacts: upload run_results/manifest/sources.json only, and expire old runs with a lifecycle
rule. Sentinel needs s3:ListBucket on the prefix and s3:GetObject on its objects.
"""

from __future__ import annotations

import os
import posixpath
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sentinel.errors import SourceError
from sentinel.sources.dbt_manifest import Manifest, parse_manifest
from sentinel.sources.dbt_parse import ArtifactError, RunResults, SourcesResults, parse_run_results, parse_sources

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from sentinel.config.settings import Settings

__all__ = ["ArtifactError", "DbtArtifacts", "DbtArtifactsSource"]

RUN_RESULTS, MANIFEST, SOURCES = "run_results.json", "manifest.json", "sources.json"
# dbt's own sub-folders of target/: thousands of compiled SQL files, never artifacts.
_SKIP_DIRS = {"compiled", "run", "logs", "dbt_packages", "dbt_internal_packages", "__pycache__"}
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    path: str  # absolute path or s3://bucket/key
    modified_at: datetime

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path)


@dataclass(frozen=True)
class DbtArtifacts:
    location: str  # as configured
    run_folder: str  # the folder of the chosen run
    run_results: RunResults | None  # None when only `dbt source freshness` ran (it writes no run_results.json)
    manifest: Manifest
    sources: SourcesResults | None

    def newest(self) -> tuple[str, datetime, str]:
        """(file, generated_at, invocation_id) of the newest of run_results.json and sources.json: a job that only
        runs `dbt source freshness` is running too."""
        found = [(a.file, a.generated_at, a.invocation_id) for a in (self.run_results, self.sources) if a is not None]
        if not found:  # load() refuses a location with neither
            raise SourceError(f"no run_results.json or sources.json under {self.location}")
        return max(found, key=lambda f: f[1])


class _Store(Protocol):
    def find(self, names: tuple[str, ...], deadline: float) -> dict[str, list[ArtifactFile]]: ...

    def read(self, path: str, deadline: float) -> bytes: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def find(self, names: tuple[str, ...], deadline: float) -> dict[str, list[ArtifactFile]]:
        if not self.root.is_dir():
            raise SourceError(f"dbt artifacts directory {self.root} does not exist or is not a directory",
                              hint="point `location` at the dbt project's target/ (or where the job copies it)")
        found: dict[str, list[ArtifactFile]] = {name: [] for name in names}
        base_depth = len(self.root.parts)
        for folder, dirs, files in os.walk(self.root):
            depth = len(Path(folder).parts) - base_depth
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and depth < _MAX_DEPTH]
            for name in names:
                if name in files:
                    path = Path(folder) / name
                    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    found[name].append(ArtifactFile(str(path), mtime))
            if time.monotonic() > deadline:
                raise SourceError(f"searching {self.root} for dbt artifacts ran out of time", hint="narrow `location`")
        return found

    def read(self, path: str, deadline: float) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read dbt artifact {path}: {exc.strerror or exc}") from None


class S3Store:
    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix, client

    def find(self, names: tuple[str, ...], deadline: float) -> dict[str, list[ArtifactFile]]:
        from sentinel.sources.s3 import S3Source

        lister = S3Source(region=self.client.meta.region_name, client=self.client)
        found: dict[str, list[ArtifactFile]] = {name: [] for name in names}
        for obj in lister.iter_objects(self.bucket, self.prefix, timeout=max(1.0, deadline - time.monotonic())):
            folders, _, name = obj.key[len(self.prefix):].rpartition("/")
            if name not in found or any(part in _SKIP_DIRS for part in folders.split("/")):
                continue
            found[name].append(ArtifactFile(f"s3://{self.bucket}/{obj.key}", obj.last_modified.astimezone(UTC)))
        return found

    def read(self, path: str, deadline: float) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        key = path.removeprefix(f"s3://{self.bucket}/")
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            return body.read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            raise SourceError(
                f"S3 GetObject on {path} failed: {code}",
                hint=f"the IAM principal Sentinel runs as needs s3:GetObject on arn:aws:s3:::{self.bucket}/{self.prefix}*",
            ) from None
        except BotoCoreError as exc:
            raise SourceError(f"S3 GetObject on {path} failed: {type(exc).__name__}: {exc}",
                              hint="check network egress to S3 and SENTINEL_AWS_ENDPOINT_URL") from None


def split_s3(location: str) -> tuple[str, str]:
    rest = location.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(f"dbt artifacts location {location!r} has no bucket", hint="use s3://bucket/prefix/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _s3_client(settings: Settings | None, timeout: float) -> S3Client:
    import boto3
    from botocore.config import Config

    connect = float(getattr(settings, "aws_connect_timeout_seconds", 5.0))
    read = float(getattr(settings, "aws_read_timeout_seconds", 20.0))
    config = Config(
        region_name=settings.aws_region if settings else "us-east-1",
        connect_timeout=min(connect, timeout),
        read_timeout=min(read, timeout),
        retries={"mode": "standard", "max_attempts": 3},
    )
    key_id = settings.aws_access_key_id if settings else None
    secret = settings.aws_secret_access_key if settings else None
    return boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url if settings else None,
        aws_access_key_id=key_id.get_secret_value() if key_id else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )


def _newest(files: list[ArtifactFile]) -> ArtifactFile | None:
    return max(files, key=lambda f: (f.modified_at, f.path), default=None)


class DbtArtifactsSource:
    def __init__(self, location: str, *, settings: Settings | None = None, s3_client: Any | None = None) -> None:
        if not location:
            raise SourceError("dbt artifacts location is empty", hint="set params.location to a directory or s3:// URL")
        self.location = location
        self.settings = settings
        self._s3_client = s3_client

    def _store(self, timeout: float) -> _Store:
        if self.location.startswith("s3://"):
            bucket, prefix = split_s3(self.location)
            return S3Store(bucket, prefix, self._s3_client or _s3_client(self.settings, timeout))
        return LocalStore(Path(self.location.removeprefix("file://")))

    def load(self, timeout: float = 30.0) -> DbtArtifacts:
        """The newest run under the location: run results, its manifest and the newest source freshness.

        A location with sources.json but no run_results.json is a job that only runs `dbt source freshness`: its
        freshness results are read with the manifest beside them.
        """
        deadline = time.monotonic() + timeout
        store = self._store(timeout)
        found = store.find((RUN_RESULTS, SOURCES), deadline)
        chosen = _newest(found[RUN_RESULTS])
        freshness_only = _newest(found[SOURCES]) if chosen is None else None
        anchor = chosen or freshness_only
        if anchor is None:
            raise SourceError(f"no {RUN_RESULTS} or {SOURCES} under {self.location}",
                              hint="is the dbt job running and uploading its target/ there? see runbook dbt-not-running")
        folder = anchor.folder
        run_results = parse_run_results(store.read(chosen.path, deadline), chosen.path) if chosen else None
        manifest_path = f"{folder}/{MANIFEST}"
        try:
            manifest_raw = store.read(manifest_path, deadline)
        except SourceError as exc:
            raise SourceError(f"{anchor.path} has no readable {MANIFEST} beside it: {exc}",
                              hint="upload the whole target/ (run_results.json and manifest.json) of each run") from None
        manifest = parse_manifest(manifest_raw, manifest_path)
        sources_file = _newest([f for f in found[SOURCES] if f.folder == folder]) or _newest(found[SOURCES])
        sources = parse_sources(store.read(sources_file.path, deadline), sources_file.path) if sources_file else None
        return DbtArtifacts(self.location, folder, run_results, manifest, sources)
