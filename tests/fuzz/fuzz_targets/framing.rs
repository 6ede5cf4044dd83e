//! Any bytes through every framing and Confluent's message indexes: an error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::wire::framing::{Framing, message_indexes, split};

fuzz_target!(|data: &[u8]| {
    for framing in [
        Framing::Auto,
        Framing::Confluent,
        Framing::SingleObject,
        Framing::Raw,
    ] {
        let _ = split(framing, data);
    }
    let _ = message_indexes(data);
});
