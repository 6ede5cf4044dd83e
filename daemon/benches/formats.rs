//! Binary records to Arrow, one core: Confluent-framed Avro (≈225-byte order events)
//! through Weir's decoder, the same events as Protobuf, and as the baseline
//! `apache-avro` decoding the same Avro bytes to its `Value`. Prints records/s and the
//! ratios; `WEIR_BENCH_RECORDS` sets the count.

use std::path::Path;
use std::time::Instant;

use apache_avro::types::Value as Avro;
use prost::Message;
use prost_reflect::{DynamicMessage, Value as Proto};
use weir::schema::{LocalRegistry, Schema, resolve};
use weir::wire::WireSpec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AVSC: &str = r#"{"type": "record", "name": "Order", "namespace": "bench", "fields": [
  {"name": "order_id", "type": "string"},
  {"name": "customer_id", "type": "long"},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED", "CANCELLED"]}},
  {"name": "currency", "type": "string"},
  {"name": "total", "type": "double"},
  {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
    {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}, {"name": "price", "type": "double"}]}}},
  {"name": "country", "type": "string"},
  {"name": "city", "type": ["null", "string"]},
  {"name": "coupon", "type": ["null", "string"]},
  {"name": "user_agent", "type": "string"}
]}"#;

const PROTO: &str = r#"syntax = "proto3";
package bench;
import "google/protobuf/timestamp.proto";
message Order {
  enum Status { NEW = 0; PAID = 1; SHIPPED = 2; CANCELLED = 3; }
  message Item { string sku = 1; int32 qty = 2; double price = 3; }
  string order_id = 1;
  int64 customer_id = 2;
  google.protobuf.Timestamp at = 3;
  Status status = 4;
  string currency = 5;
  double total = 6;
  repeated Item items = 7;
  string country = 8;
  optional string city = 9;
  optional string coupon = 10;
  string user_agent = 11;
}
"#;

/// One order, as the fields both encodings share.
struct Order {
    id: String,
    customer: i64,
    at_ms: i64,
    status: usize,
    total: f64,
    items: Vec<(String, i32, f64)>,
    city: Option<String>,
    coupon: Option<String>,
    agent: &'static str,
}

fn order(i: u64) -> Order {
    let items = (0..1 + i % 4)
        .map(|k| {
            (
                format!("SKU-{:06}", (i * 7 + k) % 1_000_000),
                1 + (k as i32),
                9.99 + k as f64,
            )
        })
        .collect();
    Order {
        id: format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            i,
            i % 65536,
            i % 4096,
            i % 4096,
            i * 31
        ),
        customer: 100_000 + (i as i64 * 37) % 50_000,
        at_ms: 1_767_225_600_000 + i as i64 * 250,
        status: (i % 4) as usize,
        total: 19.5 + (i % 500) as f64,
        items,
        city: (!i.is_multiple_of(3))
            .then(|| ["Lyon", "Porto", "Gdansk"][i as usize % 3].to_string()),
        coupon: i.is_multiple_of(5).then(|| format!("SAVE{}", i % 50)),
        agent: "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0 (weir-bench; +https://example.org)",
    }
}

fn avro_value(o: &Order) -> Avro {
    let opt = |s: &Option<String>| match s {
        Some(s) => Avro::Union(1, Box::new(Avro::String(s.clone()))),
        None => Avro::Union(0, Box::new(Avro::Null)),
    };
    let statuses = ["NEW", "PAID", "SHIPPED", "CANCELLED"];
    Avro::Record(vec![
        ("order_id".into(), Avro::String(o.id.clone())),
        ("customer_id".into(), Avro::Long(o.customer)),
        ("at".into(), Avro::TimestampMillis(o.at_ms)),
        (
            "status".into(),
            Avro::Enum(o.status as u32, statuses[o.status].into()),
        ),
        ("currency".into(), Avro::String("EUR".into())),
        ("total".into(), Avro::Double(o.total)),
        (
            "items".into(),
            Avro::Array(
                o.items
                    .iter()
                    .map(|(sku, qty, price)| {
                        Avro::Record(vec![
                            ("sku".into(), Avro::String(sku.clone())),
                            ("qty".into(), Avro::Int(*qty)),
                            ("price".into(), Avro::Double(*price)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("country".into(), Avro::String("FR".into())),
        ("city".into(), opt(&o.city)),
        ("coupon".into(), opt(&o.coupon)),
        ("user_agent".into(), Avro::String(o.agent.into())),
    ])
}

fn proto_message(o: &Order, desc: &prost_reflect::MessageDescriptor) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    let item_desc = desc.get_field_by_name("items").unwrap().kind();
    let item_desc = item_desc.as_message().unwrap();
    let ts_desc = desc.get_field_by_name("at").unwrap().kind();
    let mut ts = DynamicMessage::new(ts_desc.as_message().unwrap().clone());
    ts.set_field_by_name("seconds", Proto::I64(o.at_ms / 1000));
    ts.set_field_by_name("nanos", Proto::I32((o.at_ms % 1000) as i32 * 1_000_000));
    m.set_field_by_name("order_id", Proto::String(o.id.clone()));
    m.set_field_by_name("customer_id", Proto::I64(o.customer));
    m.set_field_by_name("at", Proto::Message(ts));
    m.set_field_by_name("status", Proto::EnumNumber(o.status as i32));
    m.set_field_by_name("currency", Proto::String("EUR".into()));
    m.set_field_by_name("total", Proto::F64(o.total));
    let items = o
        .items
        .iter()
        .map(|(sku, qty, price)| {
            let mut it = DynamicMessage::new(item_desc.clone());
            it.set_field_by_name("sku", Proto::String(sku.clone()));
            it.set_field_by_name("qty", Proto::I32(*qty));
            it.set_field_by_name("price", Proto::F64(*price));
            Proto::Message(it)
        })
        .collect();
    m.set_field_by_name("items", Proto::List(items));
    m.set_field_by_name("country", Proto::String("FR".into()));
    if let Some(c) = &o.city {
        m.set_field_by_name("city", Proto::String(c.clone()));
    }
    if let Some(c) = &o.coupon {
        m.set_field_by_name("coupon", Proto::String(c.clone()));
    }
    m.set_field_by_name("user_agent", Proto::String(o.agent.into()));
    m
}

fn schema(registry: &Path, subject: &str, encoding: &str) -> Schema {
    let config = serde_json::from_value(serde_json::json!({
        "subject": subject, "encoding": encoding, "framing": "confluent",
    }))
    .unwrap();
    resolve(&LocalRegistry::open(registry).unwrap(), &config).unwrap()
}

fn framed(id: u32, index: Option<u8>, body: &[u8]) -> Vec<u8> {
    let mut r = vec![0];
    r.extend_from_slice(&id.to_be_bytes());
    r.extend(index);
    r.extend_from_slice(body);
    r
}

/// Best of three runs, in records per second.
fn rate(n: usize, mut run: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            run();
            n as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn main() {
    let n: usize = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    for (subject, file, text) in [("avro", "1.avsc", AVSC), ("proto", "1.proto", PROTO)] {
        std::fs::create_dir(dir.path().join(subject)).unwrap();
        std::fs::write(dir.path().join(subject).join(file), text).unwrap();
    }
    let avro_schema = schema(dir.path(), "avro", "avro");
    let proto_schema = schema(dir.path(), "proto", "protobuf");
    let registry = LocalRegistry::open(dir.path()).unwrap();
    let avro_id = registry.version("avro", None).unwrap().id;
    let proto_id = registry.version("proto", None).unwrap().id;
    let parsed = apache_avro::Schema::parse_str(AVSC).unwrap();
    let desc = weir::schema::protobuf::compile("bench.proto", PROTO, &[], None).unwrap();
    let desc = desc.messages().next().unwrap();

    let orders: Vec<Order> = (0..n as u64).map(order).collect();
    let avro: Vec<Vec<u8>> = orders
        .iter()
        .map(|o| {
            let body = apache_avro::to_avro_datum(&parsed, avro_value(o)).unwrap();
            framed(avro_id, None, &body)
        })
        .collect();
    let proto: Vec<Vec<u8>> = orders
        .iter()
        .map(|o| framed(proto_id, Some(0), &proto_message(o, &desc).encode_to_vec()))
        .collect();
    drop(orders);
    let mean = |r: &[Vec<u8>]| r.iter().map(Vec::len).sum::<usize>() as f64 / r.len() as f64;
    println!(
        "{n} order events; Avro {:.0} bytes, Protobuf {:.0} bytes per record (framed)",
        mean(&avro),
        mean(&proto)
    );

    const CHUNK: usize = 8192;
    let Some(WireSpec::Avro(avro_spec)) = &avro_schema.wire else {
        unreachable!()
    };
    let weir_avro = rate(n, || {
        for chunk in avro.chunks(CHUNK) {
            let mut rows = avro_spec.rows();
            for (i, r) in chunk.iter().enumerate() {
                rows.push(i, r).unwrap();
            }
            assert_eq!(rows.finish().unwrap().0.num_rows(), chunk.len());
        }
    });
    let baseline = rate(n, || {
        for r in &avro {
            let v = apache_avro::from_avro_datum(&parsed, &mut &r[5..], None).unwrap();
            std::hint::black_box(v);
        }
    });
    let Some(WireSpec::Protobuf(proto_spec)) = &proto_schema.wire else {
        unreachable!()
    };
    let weir_proto = rate(n, || {
        for chunk in proto.chunks(CHUNK) {
            let mut rows = proto_spec.rows();
            for (i, r) in chunk.iter().enumerate() {
                rows.push(i, r).unwrap();
            }
            assert_eq!(rows.finish().unwrap().0.num_rows(), chunk.len());
        }
    });
    if std::env::var("WEIR_BENCH_PROFILE").is_ok_and(|v| v == "protobuf") {
        // For `perf record`: the Protobuf decoder alone, ten times over.
        for _ in 0..10 {
            for chunk in proto.chunks(CHUNK) {
                let mut rows = proto_spec.rows();
                for (i, r) in chunk.iter().enumerate() {
                    rows.push(i, r).unwrap();
                }
                std::hint::black_box(rows.finish());
            }
        }
        return;
    }
    let dynamic = rate(n, || {
        for r in &proto {
            let m = DynamicMessage::decode(desc.clone(), &r[6..]).unwrap();
            std::hint::black_box(m);
        }
    });

    let line = |what: &str, r: f64| println!("{what:<46} {:>10.0} records/s", r);
    line("apache-avro to Value (baseline)", baseline);
    line("Weir: Avro to Arrow", weir_avro);
    line("prost-reflect DynamicMessage (reference)", dynamic);
    line("Weir: Protobuf to Arrow", weir_proto);
    println!(
        "Avro to Arrow: {:.2}x the baseline (target >= 1.5x), {:.2} M records/s/core (target >= 1.0)",
        weir_avro / baseline,
        weir_avro / 1e6
    );
    println!(
        "Protobuf to Arrow: {:.2}x the baseline (target >= 1.5x), {:.2} M records/s/core (target >= 1.0)",
        weir_proto / baseline,
        weir_proto / 1e6
    );
}
