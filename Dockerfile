# One image with every sagaworks binary; docker-compose.yml picks the command per service.
# Dependencies are built in their own layer (cargo-chef), so a code change rebuilds only our crates.

FROM rust:1.88-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# rdkafka builds its bundled librdkafka with make and a C compiler (both in this image).
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
# Migrations are embedded in the binaries (sqlx::migrate!); queries are checked at run time by the
# tests, so no database is needed here.
# Every service under services/ (its directory, package and binary share a name), and the demo.
RUN services=$(cd services && ls -d -- */ | tr -d /) \
 && cargo build --release --locked $(printf -- '-p %s ' $services) -p loadtest --bins \
 && mkdir /out \
 && for binary in $services demo; do cp "target/release/$binary" /out/; done

FROM debian:bookworm-slim AS runtime
# curl for the healthchecks; nothing is fetched at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home sagaworks
COPY --from=builder /out/ /usr/local/bin/
USER sagaworks
ENV LOG_FORMAT=json
