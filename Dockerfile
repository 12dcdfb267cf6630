# syntax=docker/dockerfile:1.7
# Sentinel sidecar image: `docker build -t sentinel .`
# Runs as a non-root user with a read-only root filesystem: state lives on the /var/lib/sentinel volume, temporary
# files on a tmpfs at /tmp (`docker run --read-only --tmpfs /tmp -v sentinel-state:/var/lib/sentinel sentinel`).
# Production dependencies come from requirements-prod.lock (hash-pinned; tests/integration/test_dockerfile.py runs
# these same install steps in a fresh virtualenv and keeps the lock in sync with pyproject.toml).
# For reproducible builds pin the base by digest too: python:3.11.13-slim-bookworm@sha256:<digest>.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- build: a virtualenv with the locked dependencies and Sentinel itself --------------------------------------
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN python -m venv /opt/sentinel
WORKDIR /src
COPY requirements-prod.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/sentinel/bin/python --require-hashes -r requirements-prod.lock
COPY pyproject.toml README.md LICENSE ./
COPY sentinel ./sentinel
COPY checks ./checks
COPY runbooks ./runbooks
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/sentinel/bin/python --no-deps .

# ---- runtime: the virtualenv, the config and the runbooks; nothing to compile, nobody is root ------------------
FROM ${PYTHON_IMAGE} AS runtime
# Set by CI: docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#   --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="sentinel" \
      org.opencontainers.image.description="Monitoring and data-quality agent with SLA alerting for NovaPay's CDC pipeline" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/novapay/sentinel" \
      org.opencontainers.image.url="https://github.com/novapay/sentinel" \
      org.opencontainers.image.documentation="https://github.com/novapay/sentinel/blob/main/deploy/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="NovaPay" \
      org.opencontainers.image.base.name="docker.io/library/${PYTHON_IMAGE}"
RUN groupadd --system --gid 10001 sentinel \
    && useradd --system --uid 10001 --gid sentinel --home-dir /var/lib/sentinel --no-create-home \
       --shell /usr/sbin/nologin sentinel \
    && mkdir -p /var/lib/sentinel /run/secrets/sentinel \
    && chown sentinel:sentinel /var/lib/sentinel
COPY --from=build /opt/sentinel /opt/sentinel
COPY alert_rules.yaml /etc/sentinel/alert_rules.yaml
COPY runbooks /usr/share/sentinel/runbooks
# SENTINEL_SECRETS_DIR is where the secret files are mounted, not a secret (hence DL3064 is a false positive here).
# hadolint ignore=DL3064
ENV PATH=/opt/sentinel/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/sentinel \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    SENTINEL_CONFIG_FILE=/etc/sentinel/alert_rules.yaml \
    SENTINEL_STATE_PATH=/var/lib/sentinel/state.db \
    SENTINEL_SECRETS_DIR=/run/secrets/sentinel \
    SENTINEL_RUNBOOKS_DIR=/usr/share/sentinel/runbooks \
    SENTINEL_HTTP_PORT=9108
VOLUME ["/var/lib/sentinel"]
WORKDIR /var/lib/sentinel
USER 10001:10001
EXPOSE 9108
# The probe asks the address the daemon listens on (SENTINEL_HTTP_HOST): loopback only when it listens on all.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; h = os.environ.get('SENTINEL_HTTP_HOST') or '0.0.0.0'; h = '127.0.0.1' if h == '0.0.0.0' else '[' + h + ']' if ':' in h else h; urllib.request.urlopen('http://' + h + ':' + os.environ.get('SENTINEL_HTTP_PORT', '9108') + '/healthz', timeout=4)"]
# Exec form: `sentinel` is PID 1 and gets SIGTERM (drains within 8 s) and SIGHUP (reloads the config) directly.
ENTRYPOINT ["sentinel"]
CMD ["run"]
