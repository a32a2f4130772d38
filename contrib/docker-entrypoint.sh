#!/bin/sh
# The image's entrypoint: on first start, the configuration given at
# /etc/banditore/sources.toml (a mounted file) is copied into the data volume, where the
# admin UI can save sources and banditore reloads it when it changes. Then banditore runs
# with the arguments given (`run` by default).
set -eu
config="${BANDITORE_CONFIG:-/var/lib/banditore/sources.toml}"
seed="${BANDITORE_SEED_CONFIG:-/etc/banditore/sources.toml}"
if [ ! -e "$config" ] && [ -f "$seed" ]; then
    umask 077
    cp "$seed" "$config"
    echo "banditore: copied $seed to $config (edit that one from now on)" >&2
fi
exec banditore "$@"
