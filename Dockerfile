# syntax=docker/dockerfile:1
# Multi-stage build: one small runtime image with the four binaries
# (`ingest`, `worker`, `console`, `dead-letters`); compose.yaml picks the command.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build directory between builds, so
# a code change recompiles our crates, not every dependency.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ingest -p worker -p dead-letters -p leadpipe-console \
 && mkdir -p /out \
 && cp target/release/ingest target/release/worker target/release/dead-letters target/release/console /out/ \
 && strip /out/*

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app leadpipe \
 && mkdir -p /app/data && chown leadpipe /app/data
WORKDIR /app
COPY --from=build /out/ingest /out/worker /out/dead-letters /out/console /usr/local/bin/
COPY scripts/probe.sh /usr/local/bin/probe
USER leadpipe
# 8080: partner API (ingest). 8090: dealer console. 9100: worker admin. 9101: edge admin.
EXPOSE 8080 8090 9100 9101
CMD ["ingest"]
