#!/bin/bash
# Builds pg_elt's fuzz targets with clang (libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer) and runs each for a bounded time over its
# corpus: the seeds in test/fuzz/corpus/TARGET plus what earlier runs on
# this machine found (in $PG_ELT_FUZZ_DIR, default /tmp/pg_elt-fuzz).
#
#   bash test/fuzz/run.sh            # 15 s per target (the test command runs this)
#   bash test/fuzz/run.sh 600        # the long run: 10 min per target
#
# Targets: csv (sampler, column names), templates (psql-rule substitution),
# schedule (cron and interval parser), headers (HTTP response headers),
# url_mask (secret query parameters in URLs shown), body_template (webhook
# bodies), gzip (the gzip stream with the inflater pg_elt is built with,
# ISA-L's igzip when libisal-dev is there, checked against zlib) and
# gzip_zlib (the same stream with zlib's inflater).
# A crash leaves its input in the target's directory (crash-*) and fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-15}
work=${PG_ELT_FUZZ_DIR:-/tmp/pg_elt-fuzz}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
mkdir -p "$work"

cflags=(-g -O1 -Wno-ignored-attributes -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -I"$here" -I"$root/src" -I"$($pg_config --includedir-server)")
libs=(-L"$($pg_config --pkglibdir)" -lpgcommon -lpgport)

declare -A sources=(
    [csv]=src/csv_infer.c
    [templates]=src/templates.c
    [schedule]=src/schedule_expr.c
    [headers]=src/http_headers.c
    [url_mask]=src/url_mask.c
    [body_template]=src/body_template.c
    [gzip]=src/gzip_stream.c
    [gzip_zlib]=src/gzip_stream.c
)
# the harness of a target, when it is not fuzz_TARGET.c, and its own flags
declare -A harness=([gzip_zlib]=gzip)
declare -A extra=([gzip]="-lz" [gzip_zlib]="-lz")
if [ -f /usr/include/isa-l/igzip_lib.h ]; then
    extra[gzip]="-DUSE_ISAL -lz -lisal"
fi

status=0
for target in csv templates schedule headers url_mask body_template gzip gzip_zlib; do
    bin=$work/fuzz_$target
    h=${harness[$target]:-$target}
    # shellcheck disable=SC2086  # extra holds several words
    clang "${cflags[@]}" -o "$bin" "$here/fuzz_$h.c" "$here/pg_stubs.c" "$here/never_called.c" \
        "$root/${sources[$target]}" "${libs[@]}" ${extra[$target]:-}
    mkdir -p "$work/corpus_$target" "$work/artifacts_$target"
    if (cd "$work/artifacts_$target" && "$bin" -max_total_time="$seconds" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 \
            "$work/corpus_$target" "$here/corpus/$h") > "$work/$target.log" 2>&1; then
        runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$work/$target.log")
        echo "ok fuzz $target: ${runs:-?} inputs in ${seconds}s, no failure"
    else
        echo "not ok fuzz $target: see $work/$target.log and $work/artifacts_$target"
        grep -E "ERROR|SUMMARY|Test unit written" "$work/$target.log" | head -5 || true
        status=1
    fi
done
exit $status
