#!/bin/bash
# pg_elt's test command: on Debian 12, as root, installs what is missing,
# builds and installs the extension, runs the pg_regress suite (sql/,
# expected/) with `make installcheck` against a cluster it starts and the TAP
# tests (test/t/) with `make tapcheck`, as the postgres user; then checks the
# PGXN metadata, builds, installs and tests the Debian package, and runs the
# fuzz targets (test/fuzz/) for 15 s each.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh
source test/fixtures.sh

# PostgreSQL refuses to run as root: test from a copy the postgres user owns.
work=$(mktemp -d /tmp/pg_elt-check.XXXXXX)
cp -a . "$work/src-tree"
work=$work/src-tree
rm -rf "$work/tmp_check" "$work/results" "$work/test/data"
chown -R postgres: "$(dirname "$work")"

# The regression suite runs as a DBA runs it: `make installcheck` against a
# started cluster (this one, with test/regress.conf), which brings its own
# fixture servers; then the TAP tests, which start clusters of their own.
cluster="$(dirname "$work")/cluster"
port=${PGELT_TEST_PGPORT:-57432}
status=0
log="$(dirname "$work")/check.log"
pg_elt_start_cluster "$cluster" "$port" "$cluster.log" "$work/test/regress.conf"
trap 'pg_elt_stop_cluster "$cluster"' EXIT
su postgres -s /bin/bash -c "cd '$work' && PGHOST=/tmp PGPORT=$port \
    make -s installcheck PG_CONFIG=$PG_CONFIG" 2>&1 | tee "$log" || status=$?
if [ $status -ne 0 ] && [ -f "$work/regression.diffs" ]; then
    cat "$work/regression.diffs"
fi
pg_elt_stop_cluster "$cluster"
su postgres -s /bin/bash -c "cd '$work' && PG_ELT_SOAK_RUNS='${PG_ELT_SOAK_RUNS:-}' \
    make -s tapcheck PG_CONFIG=$PG_CONFIG PROVE_FLAGS='--timer'" 2>&1 | tee -a "$log" || status=$?

# The PGXN metadata (META.json) against the spec and the version, and the
# validator's own cases.
bash test/validate_meta_test.sh 2>&1 | tee -a "$log" || status=1

# The Debian package: built from a clean copy, installed, tested.
bash test/package.sh 2>&1 | tee -a "$log" || status=1

# The parsers of untrusted bytes, under libFuzzer and sanitizers, for a
# bounded time (bash test/fuzz/run.sh 600 is the long run).
if [ "${PG_ELT_FUZZ_SECONDS:-15}" -gt 0 ]; then
    bash test/fuzz/run.sh "${PG_ELT_FUZZ_SECONDS:-15}" 2>&1 | tee -a "$log" || status=1
fi
echo "pg_elt: test tree and logs are in $work"

# One closing line over every suite: pg_regress files, TAP assertions, and
# the fuzz targets, metadata and package checks.
regress_passed=$(grep -cE '^(test|ok) .* \.\.\. ok' "$log" || true)
regress_failed=$(grep -cE '^(test|not ok) .* \.\.\. FAILED' "$log" || true)
fuzz_passed=$(grep -cE '^ok (fuzz|meta|package) ' "$log" || true)
fuzz_failed=$(grep -cE '^not ok (fuzz|meta|package) ' "$log" || true)
tap_total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | head -1)
tap_failed=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" | paste -sd+ | sed 's/^$/0/')
tap_failed=$(( ${tap_failed:-0} ))
failed=$((regress_failed + tap_failed + fuzz_failed))
[ $status -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "pg_elt: $((regress_passed + ${tap_total:-0} - tap_failed + fuzz_passed)) passed, $failed failed"
exit $status
