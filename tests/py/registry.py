"""Drives Weir's schema registry API with Confluent's own Python client: the
SchemaRegistryClient and the Avro, JSON Schema and Protobuf serializers of
confluent-kafka register schemas (with references) and frame records, written one
base64 record per line; then checks the Parquet Weir wrote from them with pyarrow.

    registry.py produce URL OUT_DIR
    registry.py check LAKE_DIR
"""
import base64
import datetime as dt
import json
import os
import sys
import tempfile

UTC = dt.timezone.utc
N = 25  # records per schema version

DEVICE = {
    "type": "record", "name": "Device", "namespace": "shop",
    "fields": [{"name": "os", "type": "string"}, {"name": "mobile", "type": "boolean"}],
}
CLICK_V1 = {
    "type": "record", "name": "Click", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "user", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "device", "type": "shop.Device"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
CLICK_V2 = dict(CLICK_V1, fields=CLICK_V1["fields"] + [
    {"name": "referrer", "type": ["null", "string"], "default": None},
])
# `id` turns into a string: BACKWARD refuses it.
CLICK_BAD = dict(CLICK_V1, fields=[dict(CLICK_V1["fields"][0], type="string")] + CLICK_V1["fields"][1:])

PAGEVIEW = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "ms": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
    },
    "required": ["url", "ms", "at"],
    "additionalProperties": False,
}

MONEY_PROTO = """syntax = "proto3";
package weir.shop;
message Money {
  string currency = 1;
  int64 cents = 2;
}
"""
ORDER_PROTO = """syntax = "proto3";
package weir.shop;
import "weir/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  string id = 1;
  Money total = 2;
  google.protobuf.Timestamp at = 3;
  repeated string items = 4;
  map<string, int32> counts = 5;
}
"""


def click(i, version):
    r = {
        "id": i,
        "user": f"u{i % 7}",
        "at": dt.datetime(2024, 7, 1, 10, i % 60, tzinfo=UTC),
        "device": {"os": ["ios", "android", "linux"][i % 3], "mobile": i % 3 != 2},
        "tags": [f"t{j}" for j in range(i % 3)],
    }
    if version == 2:
        r["referrer"] = None if i % 2 else f"https://ref/{i}"
    return r


def pageview(i):
    return {"url": f"/p/{i}", "ms": i * 11, "at": f"2024-07-02T08:00:{i % 60:02d}Z"}


def order(i):
    return {
        "id": f"o{i}",
        "total": {"currency": "EUR", "cents": 100 * i + 5},
        "at": dt.datetime(2024, 7, 3, 9, 0, i % 60, tzinfo=UTC),
        "items": [f"sku{j}" for j in range(i % 4)],
        "counts": {f"sku{j}": j + 1 for j in range(i % 4)},
    }


def order_class():
    """The Order message, compiled by protoc (grpcio-tools) from the two files."""
    from grpc_tools import protoc
    import grpc_tools
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    src = tempfile.mkdtemp()
    os.makedirs(os.path.join(src, "weir"))
    for name, text in (("money", MONEY_PROTO), ("order", ORDER_PROTO)):
        with open(os.path.join(src, "weir", f"{name}.proto"), "w") as f:
            f.write(text)
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    out = os.path.join(src, "set.pb")
    rc = protoc.main(["protoc", f"-I{src}", f"-I{include}", "--include_imports",
                      f"--descriptor_set_out={out}", "weir/order.proto"])
    assert rc == 0, "protoc failed"
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(open(out, "rb").read()).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("weir.shop.Order"))


def framed_id(data):
    assert data[0] == 0, "Confluent framing starts with byte 0"
    return int.from_bytes(data[1:5], "big")


def produce(url, out):
    from confluent_kafka.schema_registry import (
        Schema, SchemaReference, SchemaRegistryClient, SchemaRegistryError)
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient({"url": url})
    ctx = lambda topic: SerializationContext(topic, MessageField.VALUE)
    lines = {"clicks": [], "pageviews": [], "orders": []}
    ids = {}

    # Avro with a reference: shop.Device lives in its own subject.
    device_id = client.register_schema("device", Schema(json.dumps(DEVICE), "AVRO"))
    ref = [SchemaReference("shop.Device", "device", 1)]
    for version, schema in ((1, CLICK_V1), (2, CLICK_V2)):
        ser = AvroSerializer(client, Schema(json.dumps(schema), "AVRO", ref))
        for i in range(N):
            data = ser(click(version * 100 + i, version), ctx("clicks"))
            ids[f"clicks-{version}"] = framed_id(data)
            lines["clicks"].append(data)
    assert ids["clicks-1"] != ids["clicks-2"]

    # The registry API, as Confluent's client sees it.
    assert sorted(client.get_versions("clicks-value")) == [1, 2]
    latest = client.get_latest_version("clicks-value")
    assert (latest.version, latest.schema_id) == (2, ids["clicks-2"]), latest
    assert [(r.name, r.subject, r.version) for r in latest.schema.references] == [("shop.Device", "device", 1)]
    assert json.loads(client.get_schema(ids["clicks-1"]).schema_str) == CLICK_V1
    found = client.lookup_schema("clicks-value", Schema(json.dumps(CLICK_V1), "AVRO", ref))
    assert (found.version, found.schema_id) == (1, ids["clicks-1"]), found
    bad = Schema(json.dumps(CLICK_BAD), "AVRO", ref)
    assert client.test_compatibility("clicks-value", bad) is False
    def refused(call, status, code=None):
        try:
            call()
        except SchemaRegistryError as e:
            assert e.http_status_code == status and code in (None, e.error_code), e
            return
        raise AssertionError(f"expected HTTP {status}, the call succeeded")

    refused(lambda: client.register_schema("clicks-value", bad), 409)
    refused(lambda: client.register_schema("clicks-value", Schema('{"type": "nope"}', "AVRO")), 422, 42201)
    refused(lambda: client.get_version("clicks-value", 9), 404, 40402)
    refused(lambda: client.get_versions("no-such-subject"), 404, 40401)
    refused(lambda: client.delete_version("clicks-value", 1), 405)
    assert client.get_schema_types() == ["AVRO", "JSON", "PROTOBUF"]
    assert client.get_compatibility() == "BACKWARD"
    # The client hands back the response body, {"compatibility": ...}, as Confluent sends it.
    assert client.set_compatibility("pageviews-value", "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility("pageviews-value") == "FULL"
    assert client.get_subjects_by_schema_id(device_id) == ["device"]

    # JSON Schema: records framed 0 + id + JSON text.
    ser = JSONSerializer(json.dumps(PAGEVIEW), client)
    for i in range(N):
        data = ser(pageview(i), ctx("pageviews"))
        ids["pageviews"] = framed_id(data)
        lines["pageviews"].append(data)
    head = b"\x00" + ids["pageviews"].to_bytes(4, "big")
    lines["pageviews"] += [
        head + b'{"url": 5, "ms": 1, "at": "2024-07-02T08:00:00Z"}',  # does not match
        b"\x00" + (4242).to_bytes(4, "big") + b'{"url": "/x"}',  # unknown id
        head + b"{not json",
    ]

    # Protobuf: the serializer registers weir/money.proto as its own subject and
    # orders-value with a reference to it, both as base64 descriptors.
    cls = order_class()
    ser = ProtobufSerializer(cls, client, {"use.deprecated.format": False})
    for i in range(N):
        r = order(i)
        m = cls(id=r["id"], items=r["items"])
        m.total.currency, m.total.cents = r["total"]["currency"], r["total"]["cents"]
        m.at.FromDatetime(r["at"])
        m.counts.update(r["counts"])
        data = ser(m, ctx("orders"))
        ids["orders"] = framed_id(data)
        lines["orders"].append(data)
    o = client.get_latest_version("orders-value")
    assert [(r.name, r.subject) for r in o.schema.references] == [("weir/money.proto", "weir/money.proto")], o
    assert "message Order" in o.schema.schema_str
    # A producer that does not register (its own client: one caches the latest version
    # whatever format it was asked in): Confluent's serializer asks for the latest
    # version as a compiled descriptor (`format=serialized`), references included.
    latest = ProtobufSerializer(cls, SchemaRegistryClient({"url": url}), {
        "use.deprecated.format": False, "auto.register.schemas": False, "use.latest.version": True})
    m = cls(id="latest")
    m.at.FromDatetime(order(0)["at"])
    assert framed_id(latest(m, ctx("orders"))) == ids["orders"], "use.latest.version framed another id"

    os.makedirs(out, exist_ok=True)
    for topic, records in lines.items():
        with open(os.path.join(out, f"{topic}.b64"), "w") as f:
            f.writelines(base64.b64encode(r).decode() + "\n" for r in records)
    print(json.dumps(ids))


def table(lake):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [os.path.join(r, n) for r, _, ns in os.walk(lake) for n in ns
             if n.endswith(".parquet") and "/errors/" not in os.path.join(r, n)]
    assert files, f"no Parquet under {lake}"
    return pa.concat_tables([pq.read_table(f) for f in files])


def check(lake):
    clicks = sorted(table(os.path.join(lake, "clicks")).to_pylist(), key=lambda r: r["id"])
    want = [click(v * 100 + i, v) for v in (1, 2) for i in range(N)]
    for w in want:
        w.setdefault("referrer", None)
    assert clicks == want, f"clicks differ: {clicks[:2]} vs {want[:2]}"

    views = sorted(table(os.path.join(lake, "pageviews")).to_pylist(), key=lambda r: r["ms"])
    want = [dict(pageview(i), at=dt.datetime(2024, 7, 2, 8, 0, i % 60, tzinfo=UTC)) for i in range(N)]
    assert views == want, f"pageviews differ: {views[:2]} vs {want[:2]}"

    orders = sorted(table(os.path.join(lake, "orders")).to_pylist(), key=lambda r: r["total"]["cents"])
    want = []
    for i in range(N):
        r = order(i)
        r["counts"] = sorted(r["counts"].items())
        want.append(r)
    for row in orders:
        row["counts"] = sorted(row["counts"])
    assert orders == want, f"orders differ: {orders[:2]} vs {want[:2]}"
    print("ok:", len(clicks), "clicks,", len(views), "pageviews,", len(orders), "orders")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"produce": produce, "check": check}[cmd](*args)
