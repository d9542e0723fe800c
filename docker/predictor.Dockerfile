# fargate-ml predictor image: the predictor API by default, the predictor worker by overriding the command.
#
#   docker build -f docker/predictor.Dockerfile -t fargate-ml/predictor .     (context: the repository root)
#   docker run --env-file .state/local.env -p 127.0.0.1:8080:8080 fargate-ml/predictor          the API
#   docker run --env-file .state/local.env fargate-ml/predictor python -m predictor.worker       the worker
#
# Only requirements.txt, pyproject.toml and src/ enter the build context (see /.dockerignore).
# docker/trainer.Dockerfile is this file with the service's name and port changed
# (tests/static/test_dockerfiles.py keeps the two in step).

# ---------------------------------------------------------------------------- builder: the venv
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/usr/local/venv/bin:$PATH

RUN python -m venv /usr/local/venv

WORKDIR /build

# The pinned runtime dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Then the project itself, non-editable; its dependencies are already in the venv.
COPY pyproject.toml ./
COPY src/ ./src/
RUN pip install --no-cache-dir --no-deps .

# ---------------------------------------------------------------------------- runtime
# The same base as the builder: the venv's interpreter links to /usr/local/bin/python3.11.
FROM python:3.11.11-slim-bookworm AS runtime

# XGBoost's wheel links against the system OpenMP runtime (libgomp.so.1), which slim images lack.
# Not pinned to a Debian revision: bookworm security updates replace old revisions in the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# A non-root user with a home of its own (gunicorn puts its control socket in ~/.gunicorn).
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

# The venv only (root-owned, read-only to the app): no compiler, no pip cache, no sources.
COPY --from=builder /usr/local/venv /usr/local/venv

# FML_BIND: gunicorn's default (127.0.0.1) is unreachable from outside a container.
ENV PATH=/usr/local/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FML_BIND=0.0.0.0:8080

WORKDIR /app
# Numeric, so a runtime can verify it is not root (Kubernetes runAsNonRoot); 10001 is `app`.
USER 10001:10001

EXPOSE 8080
STOPSIGNAL SIGTERM
# For the API; the worker (command overridden) has no HTTP port: disable it there (compose does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# Exec form: no shell in between, so gunicorn (or the worker) receives SIGTERM itself.
CMD ["gunicorn", "-c", "python:predictor.gunicorn_conf", "predictor.api:create_app()"]

# Last, so a new revision does not invalidate the layers above.
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="fargate-ml-predictor" \
      org.opencontainers.image.description="fargate-ml predictor: the predictor API (default command) or worker (python -m predictor.worker)" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.11-slim-bookworm" \
      org.opencontainers.image.revision="${VCS_REF}"
