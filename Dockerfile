# Build: docker build -t banditore .
# Run:   docker run -v $PWD/sources.toml:/etc/banditore/sources.toml -v banditore-data:/var/lib/banditore banditore
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/banditore /usr/local/bin/banditore
# The data directory belongs to the user the daemon runs as: a named volume mounted there
# starts with this owner.
RUN mkdir -p /var/lib/banditore && chown nobody:nogroup /var/lib/banditore && chmod 0700 /var/lib/banditore
VOLUME /var/lib/banditore
ENV BANDITORE_CONFIG=/etc/banditore/sources.toml BANDITORE_DATA=/var/lib/banditore
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=10s CMD ["banditore", "healthcheck"]
USER nobody
ENTRYPOINT ["banditore"]
CMD ["run"]
