"""The payments service of the walkthrough: Confluent's own Python client
(confluent-kafka) produces `shop.payments.Payment` records to a Kafka topic, framed by
its ProtobufSerializer with the id Weir's registry API gives `payments-value`.

    produce.py create BROKER TOPIC PARTITIONS
    produce.py produce BROKER REGISTRY_URL TOPIC COUNT   payments pay-000000 ... , then
                                                         two records that are not
                                                         Payments (for the error prefix)

Like a production producer, it does not register schemas: the subject's latest
version (schemas/payments-value/1.proto) is looked up and its id framed in.
"""
import datetime as dt
import os
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SUBJECT = "payments-value"
START = dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.timezone.utc)
STATUSES = ["AUTHORIZED", "CAPTURED", "CAPTURED", "DECLINED"]


def payment_class():
    """Compiles schemas/payments-value/1.proto with protoc (grpcio-tools)."""
    import grpc_tools
    from grpc_tools import protoc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    src = os.path.join(ROOT, "schemas", SUBJECT)
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    out = os.path.join(tempfile.mkdtemp(), "payments.pb")
    rc = protoc.main(["protoc", f"-I{src}", f"-I{include}", "--include_imports",
                      f"--descriptor_set_out={out}", "1.proto"])
    if rc != 0:
        raise SystemExit("protoc could not compile schemas/payments-value/1.proto")
    pool = descriptor_pool.DescriptorPool()
    with open(out, "rb") as f:
        for file in descriptor_pb2.FileDescriptorSet.FromString(f.read()).file:
            pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.payments.Payment"))


def create(broker, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker})
    futures = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for future in futures.values():
        future.result(timeout=30)
    deadline = time.time() + 30
    while len(admin.list_topics(topic, timeout=10).topics[topic].partitions) != int(partitions):
        if time.time() > deadline:
            raise SystemExit(f"topic {topic} did not get {partitions} partitions")
        time.sleep(0.2)


def produce(broker, registry, topic, count):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    Payment = payment_class()
    serializer = ProtobufSerializer(Payment, SchemaRegistryClient({"url": registry}), {
        "use.deprecated.format": False,
        "auto.register.schemas": False,
        "use.latest.version": True,
    })
    context = SerializationContext(topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20, "acks": "all"})
    failed = []

    def send(key, value):
        while True:
            try:
                producer.produce(topic, key=key, value=value,
                                 on_delivery=lambda err, _msg: err and failed.append(err))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)

    for i in range(int(count)):
        p = Payment(id=f"pay-{i:06d}", account=f"acct-{i % 97:03d}",
                    amount_cents=100 + (i * 7919) % 50000, currency=["EUR", "USD", "GBP"][i % 3],
                    status=Payment.Status.Value(STATUSES[i % 4]))
        p.paid_at.FromDatetime(START + dt.timedelta(seconds=i % 7200))
        p.attributes["channel"] = ["web", "app", "pos"][i % 3]
        send(p.account.encode(), serializer(p, context))
    # Two records that are not Payments: plain JSON without the framing, and a framed
    # record naming a schema id the registry does not know.
    send(b"bad", b'{"id": "not-protobuf"}')
    send(b"bad", b"\x00" + (999999).to_bytes(4, "big") + b"\x00\x0a\x01x")
    producer.flush(60)
    if failed:
        raise SystemExit(f"{len(failed)} records were not delivered: {failed[0]}")
    print(f"produced {count} payments and 2 records that are not, to {topic}")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"create": create, "produce": produce}[command](*args)
