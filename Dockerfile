# chaperone: multi-stage image. Build with the same cargo command CI runs
# (.ci/validate-deploy runs this exact `cargo build` line and fails if it drifts).
#
#   docker build -t chaperone .
#   docker run -p 8080:8080 -v $PWD/chaperone.toml:/etc/chaperone/chaperone.toml chaperone
#
# The runtime image holds the binary, CA certificates (reqwest verifies Zoom's TLS against the
# OS trust store) and the shipped profiles; it runs as an unprivileged user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin chaperone

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 chaperone \
    && useradd --system --uid 10001 --gid chaperone --home-dir /var/lib/chaperone --create-home chaperone
COPY --from=build /src/target/release/chaperone /usr/local/bin/chaperone
COPY --from=build /src/profiles /etc/chaperone/profiles
USER 10001:10001
WORKDIR /var/lib/chaperone
ENV CHAPERONE_CONFIG=/etc/chaperone/chaperone.toml
EXPOSE 8080
# No curl in the slim image: bash's /dev/tcp asks /healthz and looks for a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["chaperone"]
CMD ["serve"]
