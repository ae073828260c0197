# Production image: gunicorn serving the app, whitenoise serving static files.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings to load; the key used here is thrown away.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 edc && chown -R edc /app
USER edc

EXPOSE 8000
CMD ["gunicorn", "ivigtrial.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--no-control-socket", "--access-logfile", "-"]
