//! A plugin that misbehaves on purpose, written against the raw interface. Records
//! pass through unchanged unless their `act` field asks for trouble:
//! `loop` (never returns), `bomb` (allocates without end), `panic`, `offsets`
//! (returns offsets past the end of its output), `file` (reads `/etc/hostname`),
//! `env` (reads `HOME`), `socket` (connects to the `socket` config address), `time`
//! (returns the record with a timestamp no calendar holds), `sleep` (sleeps an hour in
//! a blocking WASI call), `coin` (keeps or drops the record at random: output that
//! differs between runs). The config key `init_sleep_ms` makes `init` sleep. A read
//! or connection that works puts what it got into the record, so a sandbox leak
//! shows up in the lake.

mod bindings {
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({ path: "../../../plugins/wit", world: "transform" });
}
use bindings::*;

use std::cell::RefCell;
use weir::transform::host::log;
use weir::transform::types::{Batch, Level, RecordError};

struct Hostile;

thread_local! {
    static SOCKET: RefCell<String> = const { RefCell::new(String::new()) };
}

fn act(value: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(value)
        .ok()
        .and_then(|v| v.get("act").and_then(|a| a.as_str()).map(String::from))
        .unwrap_or_default()
}

/// What an attempt to leave the sandbox got: `Ok(leak)` if it worked.
fn escape(act: &str) -> Option<Result<String, String>> {
    Some(match act {
        "file" => {
            std::fs::read_to_string("/etc/hostname").map_err(|e| format!("read /etc/hostname: {e}"))
        }
        "env" => std::env::var("HOME").map_err(|e| format!("read HOME: {e}")),
        "socket" => {
            let addr = SOCKET.with(|s| s.borrow().clone());
            std::net::TcpStream::connect(&addr)
                .map(|_| format!("connected to {addr}"))
                .map_err(|e| format!("connect {addr}: {e}"))
        }
        _ => return None,
    })
}

impl Guest for Hostile {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("panicked: {info}"))
        }));
        for (k, v) in config {
            match k.as_str() {
                "socket" => SOCKET.with(|s| *s.borrow_mut() = v),
                "init_sleep_ms" => {
                    let ms = v.parse().map_err(|_| format!("init_sleep_ms: `{v}`"))?;
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                other => return Err(format!("unknown key {other}")),
            }
        }
        Ok(())
    }

    fn process(input: InputBatch) -> Output {
        let n = input.timestamps.len();
        let values = weir::transform::input::values();
        let mut out = Output {
            parents: Vec::with_capacity(n),
            changed: Vec::new(),
            records: Batch {
                values: Vec::new(),
                value_offsets: vec![0],
                keys: Vec::new(),
                key_offsets: vec![0],
                timestamps: Vec::new(),
                headers: Vec::new(),
                header_offsets: vec![0],
            },
            partitions: Vec::new(),
            partition_offsets: Vec::new(),
            errors: Vec::new(),
        };
        let mut bad_offsets = false;
        for i in 0..n {
            let value =
                &values[input.value_offsets[i] as usize..input.value_offsets[i + 1] as usize];
            let act = act(value);
            match act.as_str() {
                "loop" => {
                    let mut x = 0u64;
                    loop {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
                "bomb" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "panic" => panic!("boom on purpose"),
                "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
                "offsets" => bad_offsets = true,
                _ => {}
            }
            // Keeps or drops the record at random: output that differs between runs.
            if act == "coin" {
                use std::hash::BuildHasher;
                let state = std::collections::hash_map::RandomState::new();
                if state.hash_one(i) & 1 == 1 {
                    out.parents.push(i as u32);
                }
                continue;
            }
            if act == "time" {
                out.changed.push(out.parents.len() as u32);
                out.parents.push(i as u32);
                let r = &mut out.records;
                r.values.extend_from_slice(value);
                r.value_offsets.push(r.values.len() as u32);
                r.key_offsets.push(0);
                r.timestamps.push(i64::MAX);
                r.header_offsets.push(0);
                continue;
            }
            match escape(&act) {
                None => out.parents.push(i as u32),
                Some(Err(reason)) => out.errors.push(RecordError {
                    index: i as u32,
                    reason,
                }),
                Some(Ok(leak)) => {
                    out.changed.push(out.parents.len() as u32);
                    out.parents.push(i as u32);
                    let leaked = serde_json::json!({ "leaked": leak }).to_string();
                    let r = &mut out.records;
                    r.values.extend_from_slice(leaked.as_bytes());
                    r.value_offsets.push(r.values.len() as u32);
                    r.key_offsets.push(0);
                    r.timestamps.push(input.timestamps[i]);
                    r.header_offsets.push(0);
                }
            }
        }
        if bad_offsets {
            out.changed = vec![0];
            out.records.value_offsets = vec![0, 1 << 30];
            out.records.key_offsets = vec![0, 0];
            out.records.header_offsets = vec![0, 0];
            out.records.timestamps = vec![0];
        }
        out
    }
}

export!(Hostile);
