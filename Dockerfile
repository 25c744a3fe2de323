# Multi-stage build: one image with both binaries (`ingest`, `worker`);
# compose.yaml picks the command.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ingest -p worker

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app leadpipe \
 && mkdir -p /app/data && chown leadpipe /app/data
WORKDIR /app
COPY --from=build /src/target/release/ingest /src/target/release/worker /usr/local/bin/
USER leadpipe
EXPOSE 8080
CMD ["ingest"]
