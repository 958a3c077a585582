#!/usr/bin/env python3
"""Writes the small files pg_elt's tests load into a directory (default
test/data), deterministically: the same bytes on every run.

    python3 test/make_fixtures.py [--dir test/data]
"""
import argparse
import gzip
import zlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def store(d, bucket, key, data):
    path = os.path.join(d, "s3", bucket, *key.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write(os.path.dirname(path), os.path.basename(path), data)


def gz(data):
    if isinstance(data, str):
        data = data.encode()
    return gzip.compress(data, compresslevel=6, mtime=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.path.join(HERE, "data"))
    d = ap.parse_args().dir
    os.makedirs(d, exist_ok=True)

    # The taxi sample the flow tests run on (10,000 rows).
    subprocess.check_call([sys.executable, os.path.join(HERE, "gen_taxi.py"), "--rows", "10000",
                           "--out", os.path.join(d, "yellow_tripdata_2021-01.csv.gz")])
    subprocess.check_call([sys.executable, os.path.join(HERE, "gen_taxi.py"), "--rows", "10000",
                           "--out", os.path.join(d, "yellow_tripdata_2021-01.csv")])
    with open(os.path.join(d, "yellow_tripdata_2021-01.csv"), "rb") as f:
        taxi = f.read()

    # One column of each inferable type, plus ids with leading zeros.
    lines = ["id,price,ratio,flag,day,seen_at,seen_tz,zip,name,empty,big"]
    for i in range(1, 51):
        lines.append("%d,%d.%02d,%s,%s,2021-01-%02d,2021-01-%02d %02d:%02d:00,2021-01-%02d %02d:00:00+02,%05d,\"name %d\",,%s"
                     % (i, i, i % 100, "1e-3" if i == 7 else "%d.5" % i, "true" if i % 2 else "FALSE",
                        1 + i % 28, 1 + i % 28, i % 24, i % 60, 1 + i % 28, i % 24, 1000 + i, i,
                        "12345678901234567890.5"))
    types_csv = "\n".join(lines) + "\n"
    write(d, "types.csv", types_csv)
    write(d, "types.csv.gz", gz(types_csv))

    # Byte order mark, CRLF line ends, quoted delimiters, quotes and newlines.
    write(d, "bom_crlf.csv", b"\xef\xbb\xbfCity Name,Note,Count\r\n"
          b"Paris,\"a, b\",1\r\n"
          b"\"New\r\nYork\",\"say \"\"hi\"\"\",2\r\n"
          b"Oslo,,3\r\n")

    write(d, "empty.csv", b"")
    write(d, "header_only.csv", "a,b,c\n")
    write(d, "ragged.csv", "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n")
    write(d, "short_row.csv", "a,b,c\n1,2,3\n4,5\n")

    # A column that looks like bigint in the sample and breaks later.
    rows = ["n,label"] + ["%d,row %d" % (i, i) for i in range(1, 1501)] + ["oops,row 1501"]
    write(d, "late_break.csv", "\n".join(rows) + "\n")

    write(d, "semicolon.csv", "a;b;c\n1;NA;x\n2;3;NA\n")
    write(d, "no_header.csv", "1,one\n2,two\n3,three\n")

    # gzip: two members, corrupt, truncated, a bomb.
    half = taxi.index(b"\n", len(taxi) // 2) + 1
    write(d, "multi.csv.gz", gz(taxi[:half]) + gz(taxi[half:]))
    good = bytearray(gz(taxi))
    corrupt = bytearray(good)
    for i in range(10, 74):  # the first deflate block: zlib notices at once
        corrupt[i] ^= 0x55
    write(d, "corrupt.csv.gz", bytes(corrupt))
    write(d, "truncated.csv.gz", bytes(good[: len(good) // 2]))
    reserved = bytearray(good)
    reserved[3] |= 0x20  # a reserved flag: RFC 1952 says fail (zlib does; igzip would not)
    write(d, "reserved_flags.csv.gz", bytes(reserved))
    write(d, "bomb.csv.gz", gz("a,b\n" + "1,2\n" * (16 * 1024 * 1024 // 4)))

    # One line of 1 GB in about 1 MB of gzip: line length must be bounded.
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"x" * (1024 * 1024)
    parts = [z.compress(b"a,b\n1,")]
    for _ in range(1024):
        parts.append(z.compress(chunk))
    parts.append(z.flush())
    write(d, "long_line.csv.gz", b"".join(parts))

    # More than 1 MiB of plain CSV (libcurl's file:// could not pause).
    body = taxi[taxi.index(b"\n") + 1:]
    write(d, "taxi_x3.csv", taxi + body + body)

    # The object store (s3_fixture.py serves <dir>/s3/<bucket>/<key>):
    # three months of trips, 1,200 small objects (more than one listing
    # page), a key with a space and a non-ASCII letter, and a public bucket.
    head, rows = taxi.split(b"\n", 1)[0], taxi.split(b"\n")[1:-1]
    months = [rows[:3000], rows[3000:6000], rows[6000:]]
    for m, part in enumerate(months, 1):
        data = gz(head + b"\n" + b"\n".join(part) + b"\n")
        store(d, "lake", "yellow/yellow_tripdata_2021-%02d.csv.gz" % m, data)
    store(d, "lake", "yellow/README.txt", b"not a month\n")
    for i in range(1200):
        store(d, "lake", "many/part-%04d.csv" % i, "n\n%d\n" % i)
    store(d, "lake", "odd names/trips \u00fc 1.csv", "n\n1\n2\n")
    store(d, "public-lake", "trips.csv.gz", gz(head + b"\n" + b"\n".join(months[0]) + b"\n"))
    store(d, "lake", "flaky/trips.csv.gz", gz(head + b"\n" + b"\n".join(months[0]) + b"\n"))
    store(d, "norange-lake", "flaky/trips.csv.gz", gz(head + b"\n" + b"\n".join(months[0]) + b"\n"))
    store(d, "skewed-lake", "trips.csv", "n\n1\n")
    for i in range(1, 4):
        store(d, "lake", "slow/part-%d.csv" % i, "n\n%d\n" % i)
    store(d, "lake", "inbox/a.csv", "n\n1\n2\n")

    # Header names that differ only after the 63 bytes of an identifier.
    stem = "a_very_long_column_name_that_goes_on_and_on_past_the_identifier_"
    write(d, "long_headers.csv", "%s1,%s2,%s\n1,2,3\n" % (stem, stem, stem))

    # For the parallel path (cut into chunks of records): quoted line
    # breaks, quotes, delimiters and empty fields; a wide value every 97
    # rows (TOAST); the same rows with each kind of line end.
    def tricky(eol, escape='"'):
        out = ["id" + "," + "note" + "," + "amount"]
        for i in range(1, 3001):
            if i % 97 == 0:
                note = "wide %d " % i + "w" * 5000
            elif i % 7 == 0:
                quoted = escape + '"'
                note = '"line one%sline two, with %sq%s, and %s%s"' % (eol, quoted, quoted, escape,
                                                                     '"' if escape == '"' else escape)
            elif i % 11 == 0:
                note = ""
            else:
                note = '"plain, %d"' % i
            out.append("%d,%s,%d.%02d" % (i, note, i, i % 100))
        return eol.join(out) + eol
    write(d, "tricky_nl.csv", tricky("\n"))
    write(d, "tricky_crlf.csv", tricky("\r\n"))
    write(d, "tricky_cr.csv", tricky("\r"))
    write(d, "tricky_escape.csv.gz", gz(tricky("\n", "\\")))

    # A bad value deep in the file, after rows with quoted line breaks;
    # and COPY's end-of-data marker followed by what is not data.
    rows = ["n,label"] + ["%d,\"row\n%d\"" % (i, i) if i % 10 == 0 else "%d,row %d" % (i, i)
                          for i in range(1, 4001)]
    rows[3500] = "oops,row 3500"
    write(d, "deep_break.csv.gz", gz("\n".join(rows) + "\n"))
    rows = ["n,label"] + ["%d,row %d" % (i, i) for i in range(1, 1501)] + ["\\.", "not,data,at,all"]
    write(d, "end_marker.csv", "\n".join(rows) + "\n")
    # The marker as COPY reads it: at the end without a line end it is
    # data; with another file's line end, an error; as the header, the end.
    labels = "".join("row %d\n" % i for i in range(1, 301))
    write(d, "marker_at_eof.csv", "label\n" + labels + "\\.")
    write(d, "marker_style.csv", "label\n" + labels + "\\.\r\n" + labels)
    write(d, "marker_header.csv", "\\.\n" + labels)
    # Line ends that change within a file: COPY refuses them.
    pairs = ["%d,x%d" % (i, i) for i in range(1, 301)]
    write(d, "nl_then_crlf.csv", "a,b\n" + "\r\n".join(pairs) + "\r\n")
    write(d, "cr_then_crlf.csv", "a,b\r" + "\r".join(pairs) + "\r\n")
    # Latin-1 bytes, for a load whose client_encoding says so.
    write(d, "latin1.csv", ("id,name\n" + "".join("%d,caf\u00e9 %d\n" % (i, i) for i in range(1, 301))).encode("latin-1"))


if __name__ == "__main__":
    main()
