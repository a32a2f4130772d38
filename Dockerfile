# Build: docker build -t banditore .
# Run:   docker volume create banditore-data
#        docker run -d --name banditore --stop-timeout 60 -v banditore-data:/var/lib/banditore \
#          -v $PWD/sources.toml:/etc/banditore/sources.toml:ro --env-file secrets.env \
#          -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 banditore
# The configuration is copied into the volume on first start (the admin UI saves sources
# there); from then on edit /var/lib/banditore/sources.toml, which is reloaded when it changes.
# Check an image: contrib/check-image.sh (builds it and runs the demo in it).

# Pinned to the toolchain the project is tested with; pin the images by digest
# (name@sha256:…) in your own registry for reproducible builds.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: a change to the sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked && rm -rf src
COPY . .
# The real sources are newer than the placeholder's build: cargo rebuilds the crate only.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/banditore /usr/local/bin/banditore
COPY contrib/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
# The data directory belongs to the user the daemon runs as: a named volume mounted there
# starts with this owner.
RUN mkdir -p /var/lib/banditore /etc/banditore \
    && chown nobody:nogroup /var/lib/banditore && chmod 0700 /var/lib/banditore
VOLUME /var/lib/banditore
ENV BANDITORE_CONFIG=/var/lib/banditore/sources.toml BANDITORE_DATA=/var/lib/banditore
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=10s CMD ["banditore", "healthcheck"]
USER nobody
ENTRYPOINT ["docker-entrypoint"]
CMD ["run"]
