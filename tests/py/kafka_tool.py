"""A Kafka client independent of Weir (confluent-kafka, librdkafka) for the tests.

    kafka_tool.py BROKER create TOPIC PARTITIONS
    kafka_tool.py BROKER produce TOPIC FILE [MS] each line one record, spread over the
                                                 partitions in turn; key = line number;
                                                 timestamp MS when given
    kafka_tool.py BROKER committed GROUP TOPIC   {"partition": committed offset, ...}
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def partitions_of(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker})
    meta = admin.list_topics(topic, timeout=10)
    return sorted(meta.topics[topic].partitions)


def create(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker})
    futures = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for f in futures.values():
        f.result(timeout=30)
    deadline = time.time() + 30
    while len(partitions_of(broker, topic)) != int(partitions):
        if time.time() > deadline:
            raise SystemExit(f"topic {topic} did not get {partitions} partitions")
        time.sleep(0.2)


def produce(broker, topic, path, timestamp=None):
    count = len(partitions_of(broker, topic))
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20, "acks": "all"})
    failed = []
    with open(path, "rb") as f:
        for n, line in enumerate(f):
            value = line.rstrip(b"\n")
            while True:
                try:
                    extra = {"timestamp": int(timestamp)} if timestamp else {}
                    producer.produce(
                        topic,
                        value=value,
                        key=str(n).encode(),
                        partition=n % count,
                        on_delivery=lambda err, _msg: err and failed.append(err),
                        **extra,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
    producer.flush(60)
    if failed:
        raise SystemExit(f"{len(failed)} records were not delivered: {failed[0]}")


def committed(broker, group, topic):
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group})
    parts = [TopicPartition(topic, p) for p in partitions_of(broker, topic)]
    out = {str(tp.partition): tp.offset for tp in consumer.committed(parts, timeout=10)}
    consumer.close()
    return out


def main():
    broker, command, *args = sys.argv[1:]
    if command == "create":
        create(broker, *args)
    elif command == "produce":
        produce(broker, *args)
    elif command == "committed":
        print(json.dumps(committed(broker, *args)))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
