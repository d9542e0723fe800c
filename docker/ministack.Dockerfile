# The local AWS emulator (MiniStack) for docker/compose.yaml. A development tool, never deployed.
#
#   docker build -f docker/ministack.Dockerfile -t fargate-ml/ministack .   (context: the repository root)

FROM python:3.11.11-slim-bookworm

# requirements-dev.txt's pin of ministack; that file is not in the build context (see /.dockerignore),
# so tests/static/test_dockerfiles.py checks that the two agree.
ARG MINISTACK_VERSION=1.5.33

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The enqueue Lambda runs inside the emulator (LAMBDA_EXECUTOR=local) with this interpreter, so
# the emulator also needs what the Lambda imports beyond its zip (boto3, botocore,
# localstack-client), at the project's pins, read from requirements.txt rather than typed twice.
COPY requirements.txt /tmp/requirements.txt
RUN grep -E '^(boto3|botocore|localstack-client)==' /tmp/requirements.txt > /tmp/lambda-requirements.txt \
    && test "$(wc -l < /tmp/lambda-requirements.txt)" -eq 3 \
    && pip install --no-cache-dir "ministack==${MINISTACK_VERSION}" -r /tmp/lambda-requirements.txt \
    && rm /tmp/requirements.txt /tmp/lambda-requirements.txt

RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

# As scripts/emulator.py starts it on a laptop, but listening on every interface of the container.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BIND_HOST=0.0.0.0 \
    GATEWAY_PORT=4566 \
    LAMBDA_EXECUTOR=local \
    MINISTACK_REGION=us-east-1 \
    S3_PERSIST=0

WORKDIR /home/app
# Numeric, so a runtime can verify it is not root (Kubernetes runAsNonRoot); 10001 is `app`.
USER 10001:10001

EXPOSE 4566
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4566/_ministack/health', timeout=2)"]

CMD ["python", "-m", "ministack"]

LABEL org.opencontainers.image.title="fargate-ml-ministack" \
      org.opencontainers.image.description="MiniStack AWS emulator for running fargate-ml locally with docker compose" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.11-slim-bookworm"
