# driftstream as a container: `docker compose up` (docker-compose.yml) runs it beside Kafka and
# Prometheus. The image holds the package only; config, baseline and state are mounted.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY detectors ./detectors
COPY sinks ./sinks
RUN pip install --no-cache-dir . && rm -rf /src

WORKDIR /var/lib/driftstream
# calibration results are cached here between restarts (a volume in docker-compose.yml)
ENV HOME=/var/lib/driftstream
EXPOSE 9108
ENTRYPOINT ["driftstream"]
CMD ["run", "--config", "/etc/driftstream/driftstream.yaml"]
