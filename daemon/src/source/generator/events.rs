//! Synthetic event bodies, written straight into a batch's value buffer. Each event is a
//! pure function of (seed, index), about 500 bytes of JSON for orders.

use std::io::Write;

use chrono::{DateTime, Utc};

use super::GeneratorKind;

const FIRST: [&str; 8] = [
    "ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus",
];
const LAST: [&str; 8] = [
    "lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "hamilton", "torvalds",
];
const REGIONS: [&str; 5] = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"];
const CITIES: [(&str, &str); 5] = [
    ("Paris", "FR"),
    ("Berlin", "DE"),
    ("New York", "US"),
    ("Seattle", "US"),
    ("Mumbai", "IN"),
];
const STATUS: [&str; 4] = ["created", "paid", "shipped", "delivered"];
const CHANNELS: [&str; 3] = ["web", "ios", "android"];
const PRODUCTS: [&str; 6] = [
    "espresso beans",
    "pour-over kettle",
    "burr grinder",
    "ceramic mug",
    "paper filters",
    "milk frother",
];
const PAGES: [&str; 6] = ["/", "/search", "/product", "/cart", "/checkout", "/account"];
const ACTIONS: [&str; 4] = ["view", "click", "scroll", "add_to_cart"];

/// Appends event `index` of the stream to `out`. With `invalid`, the event is broken in
/// one of two ways: not JSON at all, or JSON that violates the schema.
pub fn write_event(
    kind: GeneratorKind,
    seed: u64,
    index: u64,
    time_ms: i64,
    invalid: bool,
    out: &mut Vec<u8>,
) {
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let at = DateTime::<Utc>::from_timestamp_millis(time_ms).expect("time in range");
    let at = at.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    if invalid && rng.bool() {
        write!(
            out,
            "{{\"order_id\": \"ord-{index:012}\", \"event_time\": \"{at}\", "
        )
        .expect("vec write");
        return;
    }
    let result = match kind {
        GeneratorKind::Orders => orders(&mut rng, index, &at, invalid, out),
        GeneratorKind::Clickstream => clicks(&mut rng, index, &at, invalid, out),
    };
    result.expect("writing to a Vec cannot fail");
}

fn pick<'a>(rng: &mut fastrand::Rng, from: &[&'a str]) -> &'a str {
    from[rng.usize(..from.len())]
}

fn orders(
    rng: &mut fastrand::Rng,
    index: u64,
    at: &impl std::fmt::Display,
    invalid: bool,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let (first, last) = (pick(rng, &FIRST), pick(rng, &LAST));
    let customer = rng.u32(1..50_000);
    let (city, country) = CITIES[rng.usize(..CITIES.len())];
    let region = REGIONS[rng.usize(..REGIONS.len())];
    write!(
        out,
        r#"{{"order_id":"ord-{index:012}","event_time":"{at}","status":"{}","channel":"{}","customer":{{"id":"cus-{customer:06}","name":"{first} {last}","email":"{first}.{last}{customer}@example.com","phone":"+33 6 {:02} {:02} {:02} {:02}","region":"{region}","tier":"{}","address":{{"city":"{city}","country":"{country}","postcode":"{:05}"}}}},"items":["#,
        pick(rng, &STATUS),
        pick(rng, &CHANNELS),
        rng.u8(10..99),
        rng.u8(10..99),
        rng.u8(10..99),
        rng.u8(10..99),
        pick(rng, &["bronze", "silver", "gold"]),
        rng.u32(1000..99_999),
    )?;
    let lines = rng.usize(1..4);
    let mut total = 0.0;
    for i in 0..lines {
        let qty = rng.u32(1..5);
        let price = f64::from(rng.u32(199..9_999)) / 100.0;
        total += f64::from(qty) * price;
        if i > 0 {
            out.push(b',');
        }
        // An invalid order quotes a quantity, which the schema types as an integer.
        let quote = if invalid { "\"" } else { "" };
        write!(
            out,
            r#"{{"sku":"SKU-{:04}","name":"{}","qty":{quote}{qty}{quote},"unit_price":{price}}}"#,
            rng.u32(1..9999),
            pick(rng, &PRODUCTS)
        )?;
    }
    let discount = if rng.u8(..10) == 0 {
        "\"WELCOME10\""
    } else {
        "null"
    };
    write!(
        out,
        r#"],"total":{:.2},"currency":"EUR","discount_code":{discount},"payment":{{"method":"{}","card_last4":"{:04}"}},"shipping":{{"method":"{}","cost":{:.2}}}}}"#,
        total,
        pick(rng, &["card", "paypal", "bank_transfer"]),
        rng.u16(0..9999),
        pick(rng, &["standard", "express"]),
        f64::from(rng.u32(0..1500)) / 100.0,
    )
}

fn clicks(
    rng: &mut fastrand::Rng,
    index: u64,
    at: &impl std::fmt::Display,
    invalid: bool,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let user = rng.u32(1..100_000);
    let duration: &dyn std::fmt::Display = if invalid {
        &"\"slow\""
    } else {
        &rng.u32(5..60_000)
    };
    write!(
        out,
        r#"{{"event_id":"evt-{index:012}","event_time":"{at}","user_id":"usr-{user:06}","session_id":"ses-{:08x}","action":"{}","page":{{"path":"{}","referrer":"https://search.example.org/?q=coffee","title":"Coffee shop"}},"device":{{"type":"{}","os":"{}","browser":"{}"}},"geo":{{"region":"{}","country":"{}"}},"duration_ms":{duration},"tags":["{}","{}"]}}"#,
        rng.u32(..),
        pick(rng, &ACTIONS),
        pick(rng, &PAGES),
        pick(rng, &["mobile", "desktop", "tablet"]),
        pick(rng, &["ios", "android", "linux", "macos", "windows"]),
        pick(rng, &["firefox", "chrome", "safari"]),
        pick(rng, &REGIONS),
        CITIES[rng.usize(..CITIES.len())].1,
        pick(rng, &["promo", "organic", "returning"]),
        pick(rng, &["a", "b"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_deterministic_and_sized() {
        for kind in [GeneratorKind::Orders, GeneratorKind::Clickstream] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_event(kind, 7, 3, 1_700_000_000_000, false, &mut a);
            write_event(kind, 7, 3, 1_700_000_000_000, false, &mut b);
            assert_eq!(a, b);
            let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
            assert_eq!(v["event_time"], "2023-11-14T22:13:20.000Z");
            assert!((300..800).contains(&a.len()), "{} bytes", a.len());
        }
        let mut bad = Vec::new();
        let broken = (0..20).filter(|i| {
            bad.clear();
            write_event(GeneratorKind::Orders, 7, *i, 0, true, &mut bad);
            serde_json::from_slice::<serde_json::Value>(&bad).is_err()
        });
        assert!(
            (3..18).contains(&broken.count()),
            "both kinds of invalid record occur"
        );
    }
}
