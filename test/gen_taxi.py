#!/usr/bin/env python3
"""pg_elt's generator of NYC yellow-taxi-like trip files (January 2021 layout).

    python3 test/gen_taxi.py --rows 10000 --out test/data/yellow_tripdata_2021-01.csv.gz

Writes the 18 columns of yellow_tripdata_2021-01.csv with its header; gzip
(mtime 0, so the bytes are reproducible) when --out ends in .gz.  Rows are
deterministic for a given --rows and --seed.  About 2% of the rows that
have a passenger_count have 0 passengers (the tutorial's cleaning step
deletes them); the last 8% of rows leave VendorID, passenger_count,
RatecodeID, store_and_fwd_flag and payment_type empty, as the real file
does.  Python standard library only.
"""
import argparse
import gzip
import random
import sys

HEADER = ("VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,"
          "trip_distance,RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,"
          "payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,"
          "improvement_surcharge,total_amount,congestion_surcharge\n")
MONTH = 31 * 86400


def money(cents):
    d, c = divmod(cents, 100)
    if c == 0:
        return str(d)
    return ("%d.%02d" % (d, c)).rstrip("0")


def stamp(t):
    day, rest = divmod(t, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    month, day = (1, day + 1) if day < 31 else (2, day - 30)
    return "2021-%02d-%02d %02d:%02d:%02d" % (month, day, h, m, s)


def rows(n, seed):
    rng = random.Random(seed)
    tail_start = n - round(n * 0.08)
    for i in range(n):
        pickup = min(MONTH - 1, max(0, int(i * MONTH / max(n, 1) + rng.uniform(-300, 300))))
        minutes = min(180.0, max(1.0, rng.lognormvariate(2.35, 0.6)))
        dropoff = pickup + int(minutes * 60)
        dist = int(minutes * rng.lognormvariate(2.4, 0.35) / 60 * 100)
        fare = int((2.5 + 2.5 * dist / 100 + 0.35 * minutes) * 2 + 0.5) * 50
        extra = rng.choice((0, 50, 250, 300))
        tip = int(fare * rng.choice((0, 0.15, 0.2, 0.25)))
        tolls = 612 if rng.random() < 0.05 else 0
        total = fare + extra + 50 + tip + tolls + 30
        pu, do = rng.randint(1, 265), rng.randint(1, 265)
        if i >= tail_start:
            yield ",%s,%s,,%d.%02d,,,%d,%d,,%s,%s,0.5,%s,%s,0.3,%s,0\n" % (
                stamp(pickup), stamp(dropoff), dist // 100, dist % 100, pu, do,
                money(fare), money(extra), money(tip), money(tolls), money(total))
            continue
        passengers = 0 if rng.random() < 0.02 else rng.choice((1, 1, 1, 1, 1, 2, 2, 3, 5, 6))
        yield "%d,%s,%s,%d,%d.%02d,%d,%s,%d,%d,%d,%s,%s,0.5,%s,%s,0.3,%s,2.5\n" % (
            rng.choice((1, 2, 2)), stamp(pickup), stamp(dropoff), passengers,
            dist // 100, dist % 100, 1 if rng.random() < 0.97 else 2,
            "N" if rng.random() < 0.99 else "Y", pu, do, rng.choice((1, 1, 2)),
            money(fare), money(extra), money(tip), money(tolls), money(total + 250))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1369765)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.out.endswith(".gz"):
        out = gzip.GzipFile(args.out, "wb", compresslevel=6, mtime=0)
    elif args.out == "-":
        out = sys.stdout.buffer
    else:
        out = open(args.out, "wb")
    buf = [HEADER]
    for line in rows(args.rows, args.seed):
        buf.append(line)
        if len(buf) >= 20000:
            out.write("".join(buf).encode())
            buf = []
    out.write("".join(buf).encode())
    out.close()


if __name__ == "__main__":
    main()
