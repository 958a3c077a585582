#!/bin/bash
# pg_elt's regression suite (sql/, expected/) with the server under
# valgrind's memcheck: every process of the temporary instance (backends,
# run and task workers, schedulers) runs under valgrind.  An invalid read
# or write, a use of uninitialised memory or a bad free whose stack passes
# through pg_elt fails the run; PostgreSQL's own reports (it writes padding
# bytes it never initialised, by design) are kept but not counted.
#
#   bash test/valgrind.sh        # as root, like test/check.sh; about 10 minutes
#
# Reports: $PG_ELT_VALGRIND_DIR (default /tmp/pg_elt-valgrind), one file
# per process.  (AddressSanitizer would be faster, but Debian 12's glibc
# deadlocks in bindtextdomain under a preloaded ASan runtime.)
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh
if ! command -v valgrind >/dev/null; then
    apt-get install -y -qq valgrind >/dev/null
fi
source test/fixtures.sh

reports=${PG_ELT_VALGRIND_DIR:-/tmp/pg_elt-valgrind}
rm -rf "$reports"
mkdir -p "$reports"
work=$(mktemp -d /tmp/pg_elt-valgrind-tree.XXXXXX)
cp -a . "$work/src-tree"
tree=$work/src-tree
rm -rf "$tree/tmp_check" "$tree/results"
python3 test/make_fixtures.py --dir "$tree/test/data"

# A bindir whose postgres runs under valgrind (initdb, which resolves its
# own path, still uses the real one).
realbin=$($PG_CONFIG --bindir)
mkdir -p "$work/bin"
for f in "$realbin"/*; do ln -s "$f" "$work/bin/"; done
rm "$work/bin/postgres"
cat > "$work/bin/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --error-limit=no --num-callers=40 --track-origins=yes \
    --read-var-info=no --leak-check=no --log-file=$reports/vg.%p \
    $realbin/postgres "\$@"
WRAP
chmod +x "$work/bin/postgres"
chown -R postgres: "$work" "$reports"

pg_elt_start_fixture_server 18766 "$tree/test/data"
status=0
su postgres -s /bin/bash -c "cd '$tree' && PG_ELT_TEST_DATA='$tree/test/data' \
    make -s installcheck PG_CONFIG=$PG_CONFIG TAP_TESTS= bindir=$work/bin" 2>&1 | tail -20 \
    || status=$?
[ -f "$tree/regression.diffs" ] && head -100 "$tree/regression.diffs"

# the error reports whose stack passes through pg_elt
ours=$(python3 - "$reports" src/*.c <<'PY'
import glob, os, re, sys
out = open(sys.argv[1] + "/pg_elt-errors.txt", "w")
# a frame of ours: in pg_elt.so, or (with debug info) at one of our files
ours = re.compile(r"pg_elt\.so|\((%s):\d+\)" % "|".join(
    re.escape(os.path.basename(f)) for f in sys.argv[2:]))
n = 0
# PostgreSQL writes padding bytes it never initialises into WAL records and
# into the relcache init file (its own valgrind build suppresses both):
# reported when written, whoever's commit or connection wrote them
pg_padding = re.compile(r"write(?:64)?\(buf\) points to uninitialised byte(?:.*\n){1,12}.*"
                        r"(?:XLog(?:Flush|BackgroundFlush|Write)|RelationCacheInitializePhase3)")
for path in glob.glob(sys.argv[1] + "/vg.*"):
    for block in re.split(r"\n==\d+== \n", open(path, errors="replace").read()):
        if ours.search(block) and not pg_padding.search(block):
            out.write(path + ":\n" + block + "\n\n")
            n += 1
print(n)
PY
)
echo "pg_elt valgrind: $(ls "$reports"/vg.* 2>/dev/null | wc -l) processes; reports in $reports"
if [ "$ours" -gt 0 ]; then
    echo "pg_elt valgrind: errors in pg_elt's code (see $reports/pg_elt-errors.txt)"
    head -60 "$reports/pg_elt-errors.txt"
    echo "0 passed, 1 failed"
    exit 1
fi
[ $status -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $status
