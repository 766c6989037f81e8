FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/waystation

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY alembic ./alembic
RUN pip install --no-cache-dir . && useradd --create-home waystation && mkdir -p var && chown waystation var

USER waystation
# The settlement journal (var/journal) must outlive a container restart: the next start replays it.
VOLUME /srv/waystation/var
EXPOSE 8000
# Production: set DATABASE_URL, REDIS_URL and WAYSTATION_SECRET_KEY; run `alembic upgrade head` on release.
CMD ["sh", "-c", "waystation serve --host 0.0.0.0 --port ${PORT:-8000} --workers ${WEB_CONCURRENCY:-2}"]
