# Production image: gunicorn serving the app, whitenoise serving static files.
# One image for the one-shot "migrate" service, every "web" replica, the background
# "worker" replicas and the "scheduler"
# (docker-compose.yml); TLS ends at the proxy in front (deploy/nginx.conf).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    WEB_CONCURRENCY=2
WORKDIR /app

# WeasyPrint (the PDF casebooks) draws text with Pango; fonts: DejaVu.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings to load; the key used here is thrown away. The static
# files and their manifest are baked into the image: identical in every replica.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput

# media/: the files background jobs write (exports, PDF casebooks); a named volume in
# docker-compose.yml, shared by web and worker, takes this directory's owner.
RUN useradd --create-home --uid 1000 edc && mkdir -p /app/media && chown -R edc /app
USER edc

EXPOSE 8000
# /healthz/: 200 "ok" when the database answers (exempt from the HTTPS redirect).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]
# Workers: WEB_CONCURRENCY (gunicorn reads it). Migrations are not run here: the
# compose file runs them once, in the "migrate" service, before any replica starts.
CMD ["gunicorn", "ivigtrial.wsgi:application", "--bind", "0.0.0.0:8000", "--no-control-socket", "--access-logfile", "-", "--graceful-timeout", "30"]
