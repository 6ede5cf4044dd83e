"""Checks that a lake of order events holds every record exactly once, read the way a
user reads it (DuckDB over the Parquet objects), and that no upload was left unfinished.
Prints one JSON line: rows, distinct order ids, unfinished uploads.

    exactly_once.py local LAKE_DIR
    exactly_once.py s3 ENDPOINT BUCKET
"""
import json
import pathlib
import sys
import tempfile

import duckdb


def count(folder):
    files = [str(p) for p in pathlib.Path(folder).rglob("*.parquet")]
    if not files:
        return 0, 0
    query = f"select count(*), count(distinct order_id) from read_parquet({files!r})"
    rows, ids = duckdb.connect().execute(query).fetchone()
    report_gaps(files)
    return rows, ids


def report_gaps(files):
    """On stderr, for a failing test to show: order numbers missing below the highest
    one, and those present twice, with the objects holding them."""
    query = f"select order_id, filename from read_parquet({files!r}, filename=true)"
    seen = {}
    for order_id, name in duckdb.connect().execute(query).fetchall():
        seen.setdefault(int(order_id.rsplit("-", 1)[-1]), []).append(name.rsplit("/", 1)[-1])
    if not seen:
        return
    missing = [n for n in range(max(seen) + 1) if n not in seen]
    twice = {n: names for n, names in seen.items() if len(names) > 1}
    if missing:
        print(f"missing {len(missing)} order numbers, first: {missing[:20]}", file=sys.stderr)
    for n, names in list(twice.items())[:10]:
        print(f"order {n} is in {names}", file=sys.stderr)


def local(lake):
    # A local store stages each object as `<key>#<n>` and renames it into place.
    staged = [str(p) for p in pathlib.Path(lake).rglob("*#*")]
    rows, ids = count(lake)
    return {"rows": rows, "ids": ids, "unfinished": staged}


def s3(endpoint, bucket):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    unfinished = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    with tempfile.TemporaryDirectory() as tmp:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".parquet"):
                    target = pathlib.Path(tmp) / obj["Key"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, obj["Key"], str(target))
        rows, ids = count(tmp)
    return {"rows": rows, "ids": ids, "unfinished": unfinished}


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    print(json.dumps(local(*args) if kind == "local" else s3(*args)))
