# rulelog: a small image in two stages.
# Stage 1 builds wheels for rulelog and its dependencies (compilers allowed here);
# stage 2 installs only those wheels into a slim Python, with no build tools,
# and runs as an unprivileged user.

FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY services ./services
COPY adapters ./adapters
COPY rulelog ./rulelog
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home rulelog
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels rulelog \
 && rm -rf /wheels
USER rulelog
WORKDIR /app
ENV RULELOG_LOG_FORMAT=mozlog \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/__lbheartbeat__').status != 200)"
ENTRYPOINT ["rulelog"]
CMD ["serve", "public", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
