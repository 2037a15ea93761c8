# Lectern's one image: `lectern serve --no-worker` (web) and `lectern worker` (worker).

# Front-end assets: the same files `./dev setup` copies from npm into static/vendor.
FROM node:20.20.2-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor/katex \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/htmx.min.js \
 && cp node_modules/katex/dist/katex.min.js node_modules/katex/dist/katex.min.css vendor/katex/ \
 && cp -r node_modules/katex/dist/fonts vendor/katex/

FROM python:3.11.15-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LECTERN_DATA_DIR=/data
WORKDIR /app

# Dependencies first (from pyproject.toml), so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY alembic.ini ./
COPY migrations/ migrations/
COPY templates/ templates/
COPY static/ static/
COPY --from=assets /assets/vendor/ static/vendor/
COPY worker/ worker/
COPY app/ app/
# Editable install: app/ finds alembic.ini, migrations/, templates/ and static/ beside it
# (app.migrate and app.main resolve them from the source tree, not from site-packages).
RUN pip install --no-deps -e .

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin lectern \
 && mkdir -p /data \
 && chown lectern:lectern /data
USER lectern

EXPOSE 8000
CMD ["lectern", "serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000"]
