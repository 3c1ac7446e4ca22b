# Sourced by .ci/run: a throw-away PostgreSQL server on loopback for the ablation tests
# (tests/test_ablation.py reads BENCH_TEST_POSTGRES_URL; without it the PostgreSQL test is skipped).
# Debian's package is installed when missing; the server runs as the `postgres` user and is stopped
# (and its data removed) when .ci/run exits.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || echo "postgres: apt-get install failed; the PostgreSQL test will be skipped"
fi
PG_BIN="$(pg_bin)"
if [ -n "$PG_BIN" ]; then
    PG_DIR="$(mktemp -d /tmp/bench-pg.XXXXXX)"
    PG_PORT="${BENCH_PG_PORT:-55432}"
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    if as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U bench >/dev/null \
        && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
            -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR" start >/dev/null \
        && as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U bench optuna; then
        export BENCH_TEST_POSTGRES_URL="postgresql://bench@127.0.0.1:$PG_PORT/optuna"
        trap 'as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null; rm -rf "$PG_DIR"' EXIT
        echo "postgres: test server on 127.0.0.1:$PG_PORT"
    else
        echo "postgres: could not start a server ($PG_DIR/log); the PostgreSQL test will be skipped"
    fi
fi
