"""Reads back what the walkthrough archived, the way an analyst would.

    query.py wait BROKER GROUP TOPIC TOTAL SECONDS  until the group's committed offsets
                                                cover TOTAL records (the topic was empty
                                                before): Weir commits only what is durable
                                                in the lake
    query.py check S3_ENDPOINT BUCKET ROOT COUNT  the Parquet under ROOT/topics/ holds
                                                exactly COUNT payments, once each; prints
                                                a summary (DuckDB over pyarrow) and the
                                                dead letters under ROOT/errors/
"""
import json
import sys
import time


def wait(broker, group, topic, total, seconds):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker, "group.id": group,
                         "enable.auto.commit": False})
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    deadline = time.time() + float(seconds)
    while True:
        committed = {tp.partition: max(tp.offset, 0) for tp in
                     consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)}
        if sum(committed.values()) >= int(total):
            print(f"group {group} committed {committed}: all {total} records durable")
            return
        if time.time() > deadline:
            raise SystemExit(f"after {seconds}s the group's offsets are {committed}, not {total} in all")
        time.sleep(1)


def check(endpoint, bucket, root, count):
    import duckdb
    import pyarrow.dataset as ds
    from pyarrow import fs

    host = endpoint.split("://", 1)[1]
    s3 = fs.S3FileSystem(endpoint_override=host, scheme="http", access_key="test",
                         secret_key="test", region="us-east-1")
    payments = ds.dataset(f"{bucket}/{root}/topics", filesystem=s3, format="parquet",
                          partitioning="hive").to_table()
    summary = duckdb.sql("""
        SELECT count(*) AS payments, count(DISTINCT id) AS ids, min(paid_at) AS first,
               max(paid_at) AS last, count(DISTINCT (_partition, _offset)) AS offsets,
               count(*) FILTER (WHERE decode(_key) != account) AS wrong_keys
        FROM payments""").fetchall()[0]
    print(f"{summary[0]} payments, {summary[1]} distinct ids, paid from {summary[2]} to {summary[3]}")
    duckdb.sql("""
        SELECT date, hour, status, count(*) AS payments, sum(amount_cents) / 100 AS amount
        FROM payments GROUP BY ALL ORDER BY ALL""").show()
    print(f"{summary[4]} distinct (partition, offset) pairs in the metadata columns")
    if summary[0] != int(count) or summary[1] != int(count) or summary[4] != int(count):
        raise SystemExit(f"expected {count} payments once each, each at its own offset")
    if summary[5] != 0:
        raise SystemExit(f"{summary[5]} rows whose `_key` is not their account")

    dead = []
    for info in s3.get_file_info(fs.FileSelector(f"{bucket}/{root}/errors", recursive=True)):
        if info.type == fs.FileType.File:
            with s3.open_input_stream(info.path) as f:
                dead += [json.loads(line) for line in f.read().decode().splitlines()]
    for letter in dead:
        print(f"dead letter: {letter.get('error_type')}: {letter.get('reason')}")
    if len(dead) != 2:
        raise SystemExit(f"expected the 2 records that are not Payments in errors/, found {len(dead)}")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"wait": wait, "check": check}[command](*args)
