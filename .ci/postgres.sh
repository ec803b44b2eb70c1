# A throwaway PostgreSQL server for the sweep tests. Source this file, then:
#
#   postgres_start   # installs PostgreSQL from Debian's packages if missing, starts a cluster
#                    # on 127.0.0.1 (trust auth, a free port, data in a temporary folder) and
#                    # exports GATEGRAPH_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/gategraph
#   postgres_stop    # stops it and deletes its folder (safe to call twice)
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user.

postgres_start() {
    local bin
    bin=$(_postgres_bin) || {
        echo "postgres.sh: installing PostgreSQL (apt-get install -y postgresql)" >&2
        _postgres_as_root apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive _postgres_as_root apt-get install -y -q postgresql >/dev/null
        bin=$(_postgres_bin) || { echo "postgres.sh: no pg_ctl after installing" >&2; return 1; }
    }
    _POSTGRES_BIN=$bin
    _POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gategraph-postgres.XXXXXX")
    _POSTGRES_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ "$(id -u)" = 0 ]; then chown postgres "$_POSTGRES_DIR"; fi
    _postgres_run "$bin/initdb" -D "$_POSTGRES_DIR/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >"$_POSTGRES_DIR/initdb.log" 2>&1 || {
        cat "$_POSTGRES_DIR/initdb.log" >&2
        return 1
    }
    _postgres_run "$bin/pg_ctl" -D "$_POSTGRES_DIR/data" -l "$_POSTGRES_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $_POSTGRES_PORT -k $_POSTGRES_DIR -c fsync=off" \
        start >/dev/null || {
        cat "$_POSTGRES_DIR/server.log" >&2
        return 1
    }
    _postgres_run "$bin/createdb" -h 127.0.0.1 -p "$_POSTGRES_PORT" -U postgres gategraph
    export GATEGRAPH_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$_POSTGRES_PORT/gategraph"
    echo "postgres.sh: PostgreSQL at $GATEGRAPH_TEST_POSTGRES_URL" >&2
}

postgres_stop() {
    if [ -n "${_POSTGRES_DIR:-}" ] && [ -d "$_POSTGRES_DIR" ]; then
        _postgres_run "$_POSTGRES_BIN/pg_ctl" -D "$_POSTGRES_DIR/data" -m fast -w stop \
            >/dev/null 2>&1 || true
        rm -rf "$_POSTGRES_DIR"
    fi
    _POSTGRES_DIR=
    unset GATEGRAPH_TEST_POSTGRES_URL
}

_postgres_bin() {  # the newest installed server's bin folder (Debian keeps them per version)
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    dir=$(dirname "$(command -v pg_ctl 2>/dev/null)" 2>/dev/null)
    if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    return 1
}

_postgres_run() {  # a PostgreSQL program, as `postgres` when we are root
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

_postgres_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
