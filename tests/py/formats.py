"""Produces Avro and Protobuf records with libraries Weir does not use (fastavro, and
Google's protobuf runtime with protoc from grpcio-tools), framed as Confluent's and
Avro's serializers frame them, one base64 record per line; then checks the Parquet
Weir wrote from them with pyarrow.

    formats.py produce-avro SCHEMAS OUT ID1 ID2 ID3
    formats.py check-avro LAKE
    formats.py produce-protobuf SCHEMAS OUT ID1 ID2
    formats.py check-protobuf LAKE
"""
import base64
import datetime as dt
import decimal
import io
import json
import os
import subprocess
import sys
import tempfile
import uuid

UTC = dt.timezone.utc
N = 40  # good records per version


def avro_record(i, version):
    r = {
        "id": i,
        "name": f"event-{i}",
        "score": i / 4,
        "amount": i * 1.5,
        "count": i % 7,
        "active": i % 2 == 0,
        "payload": bytes([i % 256, 0, 255]),
        "kind": ["CLICK", "VIEW", "BUY"][i % 3],
        "price": decimal.Decimal(i * 101) / 100,
        "day": dt.date(2024, 5, 1 + i % 3),
        "at": dt.datetime(2024, 5, 1 + i % 3, 12, 0, i % 60, tzinfo=UTC),
        "at_micros": dt.datetime(2024, 5, 1, 0, 0, 0, i, tzinfo=UTC),
        "uid": str(uuid.UUID(int=i)),
        "tags": [f"t{j}" for j in range(i % 3)],
        "attrs": {f"k{j}": j for j in range(i % 2 + 1)},
        "geo": None if i % 4 == 0 else {"lat": 1.0 + i, "lon": -2.0 - i},
        "note": None if i % 2 else f"note {i}",
    }
    if version == 1:
        r["legacy"] = f"legacy {i}"
    else:
        r["channel"] = None if i % 5 == 0 else "web"
    if version == 3:
        r["count"] = str(r["count"])
    return r


def produce_avro(schemas, out, ids):
    import fastavro

    parsed = {}
    for v in (1, 2, 3):
        with open(os.path.join(schemas, "events", f"{v}.avsc")) as f:
            parsed[v] = fastavro.parse_schema(json.load(f))
    ids = {v: int(x) for v, x in zip((1, 2, 3), ids)}

    def body(v, rec):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed[v], rec)
        return buf.getvalue()

    def confluent(v, rec):
        return b"\x00" + ids[v].to_bytes(4, "big") + body(v, rec)

    lines = []
    for i in range(N):
        lines.append(confluent(1, avro_record(i, 1)))
        lines.append(confluent(2, avro_record(N + i, 2)))
    # Avro single-object encoding of version 2.
    canonical = fastavro.schema.to_parsing_canonical_form(parsed[2])
    fp = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    lines.append(b"\xc3\x01" + fp + body(2, avro_record(2 * N, 2)))
    good = lines[:]
    bad = [
        confluent(2, avro_record(900, 2))[:20],  # truncated
        b"\x05" + confluent(2, avro_record(901, 2))[1:],  # wrong magic byte
        b"\x00" + (999).to_bytes(4, "big") + body(2, avro_record(902, 2)),  # unknown id
        confluent(3, avro_record(903, 3)),  # refused version
        b"\x00" + ids[2].to_bytes(4, "big") + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    ]
    with open(out, "w") as f:
        for i, line in enumerate(good):
            f.write(base64.b64encode(line).decode() + "\n")
            if i % 20 == 5 and bad:
                f.write(base64.b64encode(bad.pop()).decode() + "\n")
        for line in bad:
            f.write(base64.b64encode(line).decode() + "\n")
        f.write("!!! not base64 !!!\n")


def same_record(i, got, want, approx):
    """Every field of `want` in `got`; maps compared as dicts, `approx` to 1e-6."""
    for k, v in want.items():
        g = dict(got[k]) if k == "attrs" else got[k]
        if k == approx:
            assert abs(g - v) < 1e-6, (i, k, g, v)
        else:
            assert g == v, f"record {i} field {k}: {g!r} != {v!r}"


def read_lake(lake):
    import pyarrow.parquet as pq

    files = []
    for root, _, names in os.walk(lake):
        files += [os.path.join(root, n) for n in names if n.endswith(".parquet")]
    assert files, f"no Parquet files under {lake}"
    tables = [pq.read_table(f) for f in sorted(files)]
    schemas = {str(t.schema) for t in tables}
    assert len(schemas) == 1, f"files disagree on the schema: {schemas}"
    return files, tables


def check_avro(lake):
    import pyarrow as pa

    files, tables = read_lake(lake)
    rows = [r for t in tables for r in t.to_pylist()]
    by_id = {r["id"]: r for r in rows}
    expected = list(range(2 * N + 1))
    assert sorted(by_id) == expected, f"ids {sorted(by_id)} != {expected}"
    assert len(rows) == len(by_id), "a record was written twice"
    s = tables[0].schema
    types = {f.name: f.type for f in s}
    assert types["id"] == pa.int64()
    assert types["score"] == pa.float32()
    assert types["count"] == pa.int32()
    assert types["payload"] == pa.binary()
    assert pa.types.is_dictionary(types["kind"]) or types["kind"] == pa.string(), types["kind"]
    assert types["price"] == pa.decimal128(10, 2), types["price"]
    assert types["day"] == pa.date32()
    assert types["at"] == pa.timestamp("ms", tz="UTC"), types["at"]
    assert types["at_micros"] == pa.timestamp("us", tz="UTC"), types["at_micros"]
    assert pa.types.is_list(types["tags"])
    assert pa.types.is_map(types["attrs"])
    assert pa.types.is_struct(types["geo"]) and s.field("geo").nullable
    assert s.field("note").nullable and s.field("channel").nullable
    assert s.field("legacy").nullable, "a field only version 1 has is kept, nullable"
    for i in expected:
        version = 1 if i < N else 2
        want = avro_record(i, version)
        got = by_id[i]
        u = got["uid"]
        got = dict(got, uid=str(uuid.UUID(bytes=u)) if isinstance(u, bytes) else str(u))
        same_record(i, got, want, approx="score")
        if version == 2:
            assert got["legacy"] is None
        else:
            assert got["channel"] is None
    parts = sorted({os.path.relpath(os.path.dirname(f), lake) for f in files})
    print("ok:", len(rows), "rows;", " ".join(parts))


def compile_proto(schemas, version):
    from grpc_tools import protoc
    import grpc_tools
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    out = tempfile.mktemp(suffix=".pb")
    rc = protoc.main([
        "protoc", f"-I{schemas}", f"-I{include}", "--include_imports",
        f"--descriptor_set_out={out}", f"orders/{version}.proto",
    ])
    assert rc == 0, "protoc failed"
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(out, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    return get("weir.test.Order"), get("weir.test.Refund")


def proto_record(i, version):
    r = {
        "id": f"o-{i}",
        "quantity": i * 3,
        "price": i * 0.5,
        "status": ["PENDING", "PAID", "SHIPPED"][i % 3],
        "at": dt.datetime(2024, 6, 1 + i % 2, 8, 30, 0, i * 1000, tzinfo=UTC),
        "tags": [f"x{j}" for j in range(i % 3)],
        "attrs": {f"a{j}": j * 10 for j in range(i % 2 + 1)},
        "customer": None if i % 4 == 0 else {"name": f"c{i}", "region": "eu"},
        "note": None if i % 2 else f"n{i}",
        "blob": bytes([i % 256, 7]),
        "coupon": None if i % 3 else f"SAVE{i}",
        "flags": 4_000_000_000 + i,
        "weight": i / 8,
    }
    if version == 1:
        r["gift"] = i % 2 == 1
    else:
        r["channel"] = "app"
    return r


def to_message(cls, r):
    m = cls()
    for k, v in r.items():
        if v is None:
            continue
        if k == "at":
            m.at.FromDatetime(v)
        elif k == "tags":
            m.tags.extend(v)
        elif k == "attrs":
            m.attrs.update(v)
        elif k == "customer":
            m.customer.name, m.customer.region = v["name"], v["region"]
        elif k == "coupon":
            m.coupon.value = v
        else:
            setattr(m, k, v)
    return m


def produce_protobuf(schemas, out, ids):
    ids = [int(x) for x in ids]
    classes = {v: compile_proto(schemas, v) for v in (1, 2)}
    lines = []
    for i in range(N):
        for v, base in ((1, 0), (2, N)):
            m = to_message(classes[v][0], proto_record(base + i, v))
            # Message index [0] is written as the single byte 0.
            lines.append(b"\x00" + ids[v - 1].to_bytes(4, "big") + b"\x00" + m.SerializeToString())
    refund = classes[2][1](order_id="o-1").SerializeToString()
    bad = [
        b"\x00" + ids[1].to_bytes(4, "big") + b"\x02\x02" + refund,  # another message type
        b"\x00" + ids[1].to_bytes(4, "big") + b"\x00" + b"\x0a\xff\xff\xff\x0f",  # garbage
        b"\x00" + (12345).to_bytes(4, "big") + b"\x00",  # unknown id
    ]
    with open(out, "w") as f:
        for line in lines + bad:
            f.write(base64.b64encode(line).decode() + "\n")


def check_protobuf(lake):
    import pyarrow as pa

    files, tables = read_lake(lake)
    rows = [r for t in tables for r in t.to_pylist()]
    by_id = {r["id"]: r for r in rows}
    expected = [f"o-{i}" for i in range(2 * N)]
    assert sorted(by_id) == sorted(expected), sorted(by_id)
    s = tables[0].schema
    types = {f.name: f.type for f in s}
    assert types["quantity"] == pa.int64() and not s.field("quantity").nullable
    assert types["flags"] == pa.uint32()
    assert types["weight"] == pa.float32()
    assert types["at"] == pa.timestamp("us", tz="UTC"), types["at"]
    assert types["blob"] == pa.binary()
    assert types["coupon"] == pa.string() and s.field("coupon").nullable
    assert pa.types.is_map(types["attrs"]) and pa.types.is_list(types["tags"])
    assert pa.types.is_struct(types["customer"]) and s.field("customer").nullable
    assert s.field("note").nullable
    assert s.field("gift").nullable, "a field only version 1 has is kept, nullable"
    for n in range(2 * N):
        version = 1 if n < N else 2
        want = proto_record(n, version)
        got = by_id[f"o-{n}"]
        same_record(n, got, want, approx="weight")
        if version == 2:
            assert got["gift"] is None
    print("ok:", len(rows), "rows")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {
        "produce-avro": lambda: produce_avro(args[0], args[1], args[2:]),
        "check-avro": lambda: check_avro(args[0]),
        "produce-protobuf": lambda: produce_protobuf(args[0], args[1], args[2:]),
        "check-protobuf": lambda: check_protobuf(args[0]),
    }[cmd]()
