//! The Kafka source's cost: Kafka (tansu on loopback) → validate → zstd Parquet, on
//! local disk and on S3 (moto), against the same pipeline fed from a file of the same
//! records in the same run, and librdkafka consuming alone (poll and discard).
//! Then produce → durable latency at a 1 s flush interval.
//!
//! `weir` runs as a child process (this build's release binary) in every case, so each
//! run pays the same start-up and its CPU and peak RSS are its own. tansu and moto
//! must be on PATH (`tests/run-all.sh` installs them). `WEIR_BENCH_RECORDS` sets the
//! record count (default 1,000,000 order events of about 600 bytes), `WEIR_BENCH_BUDGET`
//! the pipelines' memory budget (default 256MiB).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use weir::source::generator::{GeneratorKind, write_event};

const PARTITIONS: i32 = 6;
/// tansu 0.6 holds every fetch for the full `fetch.wait.max.ms` even when records are
/// there (librdkafka's default, 500 ms, caps a consumer at about 35,000 records/s on it;
/// Apache Kafka answers as soon as `fetch.min.bytes` is there): both consumers here
/// wait at most 10 ms.
const FETCH_WAIT_MS: &str = "10";
const PREFIX: &str = "orders/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/";

fn main() {
    let records: u64 = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (tansu, broker) = start("tansu", |port| {
        let url = format!("tcp://127.0.0.1:{port}");
        let storage = ["--storage-engine", "memory://tansu/"];
        let mut cmd = Command::new("tansu");
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ]);
        cmd.args(storage).env("RUST_LOG", "warn");
        cmd
    });
    let (_moto, s3) = start("moto_server", |port| {
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        cmd
    });
    let endpoint = format!("http://{s3}");
    Command::new("python3")
        .args(["-c", "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='PUT'))"])
        .arg(format!("{endpoint}/lake"))
        .status()
        .unwrap();

    let input = dir.join("orders.ndjson");
    let lines = write_input(&input, records);
    let input_mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
    create_topic(&broker, "orders");
    let started = Instant::now();
    produce_all(&broker, "orders", &lines);
    drop(lines);
    println!(
        "weir kafka bench: {records} order records ({:.0} bytes each, {input_mb:.0} MB), {PARTITIONS} partitions; produced in {:.1?}",
        input_mb * 1e6 / records as f64,
        started.elapsed()
    );
    let alone = consume_alone(&broker, "orders", records);
    println!(
        "\n[consumer alone] librdkafka poll and discard: {:>9.0} records/s",
        alone
    );

    for (sink, url) in [
        ("local disk", dir.join("lake").display().to_string()),
        ("S3 (moto)", "s3://lake/bench".into()),
    ] {
        let file = run(dir, &endpoint, &Feed::File(&input), &url, records, None);
        let kafka = run(
            dir,
            &endpoint,
            &Feed::Kafka(&broker, "orders"),
            &url,
            records,
            Some(tansu.0.id()),
        );
        println!("\n[{sink}] validate → zstd Parquet, hourly prefixes");
        file.print("file-fed", records, input_mb);
        kafka.print("kafka", records, input_mb);
        println!(
            "  ratio kafka / file-fed   {:>6.2}  (records/s; target >= 0.8)",
            file.secs / kafka.secs
        );
    }
    latency(dir, &broker, &endpoint);
}

/// A server started on a free loopback port: (process, `127.0.0.1:port`).
fn start(what: &str, command: impl Fn(u16) -> Command) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} is not installed ({e}); tests/run-all.sh installs it"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Server(child), format!("127.0.0.1:{port}"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `records` order events (event times over a day) to `path`; returns them.
fn write_input(path: &Path, records: u64) -> Vec<Vec<u8>> {
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let lines: Vec<Vec<u8>> = (0..records)
        .map(|i| {
            let mut buf = Vec::with_capacity(640);
            let offset = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % 86_400_000;
            write_event(
                GeneratorKind::Orders,
                1,
                i,
                start + offset as i64,
                false,
                &mut buf,
            );
            buf
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for line in &lines {
        out.write_all(line).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    lines
}

fn create_topic(broker: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let done = runtime
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .unwrap();
    assert!(done.iter().all(Result::is_ok), "{done:?}");
}

fn producer(broker: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .create()
        .unwrap()
}

/// Produces `value` to partition `n % PARTITIONS`, waiting while the queue is full.
fn send(producer: &BaseProducer, topic: &str, n: u64, value: &[u8]) {
    let partition = (n % PARTITIONS as u64) as i32;
    let key = n.to_string();
    let mut record = BaseRecord::to(topic)
        .partition(partition)
        .key(&key)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((_, back)) => {
                record = back;
                producer.poll(Duration::from_millis(20));
            }
        }
    }
    producer.poll(Duration::ZERO);
}

fn produce_all(broker: &str, topic: &str, lines: &[Vec<u8>]) {
    let producer = producer(broker);
    for (n, line) in lines.iter().enumerate() {
        send(&producer, topic, n as u64, line);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Reads every record of `topic` from the start and discards it: records per second.
fn consume_alone(broker: &str, topic: &str, records: u64) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "bench-alone")
        .set("enable.auto.commit", "false")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .set("fetch.queue.backoff.ms", "20")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let mut seen = 0u64;
    while seen < records {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                std::hint::black_box(rdkafka::Message::payload(&message));
                seen += 1;
            }
            Some(Err(e)) => panic!("consumer: {e}"),
            None => panic!("no record for 10 s after {seen}"),
        }
    }
    records as f64 / started.elapsed().as_secs_f64()
}

/// Where a run's records come from.
enum Feed<'a> {
    File(&'a Path),
    /// Broker and topic.
    Kafka(&'a str, &'a str),
}

/// One run of `weir`: wall seconds until every record is durable, its CPU seconds and
/// peak RSS, and the broker's CPU seconds meanwhile.
struct Measured {
    secs: f64,
    cpu: f64,
    rss_mib: f64,
    broker_cpu: Option<f64>,
}

impl Measured {
    fn print(&self, what: &str, records: u64, input_mb: f64) {
        let broker = self
            .broker_cpu
            .map(|c| format!(", broker {c:.1} s CPU"))
            .unwrap_or_default();
        println!(
            "  {what:<9} {:>9.0} records/s {:>6.1} MB/s  {:>5.1} s wall  {:>5.1} s CPU  peak RSS {:>4.0} MiB{broker}",
            records as f64 / self.secs,
            input_mb / self.secs,
            self.secs,
            self.cpu,
            self.rss_mib
        );
    }
}

static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn pipeline(dir: &Path, feed: &Feed, url: &str, interval: &str) -> (PathBuf, String) {
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let pipelines = dir.join(format!("pipelines-{n}"));
    std::fs::create_dir_all(&pipelines).unwrap();
    let group = format!("weir-bench-{n}");
    let source = match feed {
        Feed::File(path) => format!("  type: file\n  path: {}\n", path.display()),
        Feed::Kafka(broker, topic) => format!(
            "  type: kafka\n  brokers: \"{broker}\"\n  topics: [{topic}]\n  group: {group}\n  start: earliest\n  seek_back: 10000\n  options:\n    fetch.wait.max.ms: \"{FETCH_WAIT_MS}\"\n"
        ),
    };
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let url = format!("{url}/run-{n}");
    let budget = std::env::var("WEIR_BENCH_BUDGET").unwrap_or_else(|_| "256MiB".into());
    std::fs::write(
        pipelines.join("bench.yaml"),
        format!(
            "apiVersion: weir/v1\nname: bench\nsource:\n{source}schema:\n  registry: {}\n  subject: orders\nsink:\n  url: {url}\n  prefix: \"{PREFIX}\"\n  time:\n    field: event_time\n  buffer:\n    max_bytes: 128MiB\n    interval: {interval}\n    idle: 1s\n    memory_budget: {budget}\n",
            registry.display()
        ),
    )
    .unwrap();
    (pipelines, group)
}

fn weir(pipelines: &Path, endpoint: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--pipelines"])
        .arg(pipelines)
        .arg("--state-dir")
        .arg(pipelines.join("state"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `weir` on `feed` until all `records` are durable: a file-fed run ends by itself;
/// a Kafka-fed one once the group has committed them all (offsets are committed only
/// for durable records), then it is stopped.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also reports its usage"
)]
fn run(
    dir: &Path,
    endpoint: &str,
    feed: &Feed,
    url: &str,
    records: u64,
    broker_pid: Option<u32>,
) -> Measured {
    let (pipelines, group) = pipeline(dir, feed, url, "10m");
    let broker_before = broker_pid.map(process_cpu);
    let started = Instant::now();
    let child = weir(&pipelines, endpoint);
    let secs = match feed {
        Feed::File(_) => {
            let (status, usage) = wait4(&child);
            assert!(status == 0, "weir exited with {status}");
            return Measured {
                secs: started.elapsed().as_secs_f64(),
                cpu: usage.0,
                rss_mib: usage.1,
                broker_cpu: None,
            };
        }
        Feed::Kafka(broker, topic) => {
            wait_committed(broker, &group, topic, records, Duration::from_secs(600));
            started.elapsed().as_secs_f64()
        }
    };
    let broker_cpu = broker_pid
        .zip(broker_before)
        .map(|(pid, before)| process_cpu(pid) - before);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let (_, (cpu, rss_mib)) = wait4(&child);
    Measured {
        secs,
        cpu,
        rss_mib,
        broker_cpu,
    }
}

/// Waits for a child with `wait4`: its exit status, and (CPU seconds, peak RSS in MiB).
/// The peak is sampled from `/proc` meanwhile: the `ru_maxrss` of a child also counts
/// this process's memory, which the child had between fork and exec.
fn wait4(child: &Child) -> (i32, (f64, f64)) {
    let pid = child.id() as i32;
    let mut peak = 0.0f64;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        peak = peak.max(peak_rss_mib(pid));
        // SAFETY: wait4 writes the status and the usage into the values it is given.
        if unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) } != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    (status, (cpu, peak))
}

/// The peak resident memory of a running process (`VmHWM`), in MiB; 0 once it ended.
fn peak_rss_mib(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            line.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User and system CPU seconds a process has used so far.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Waits until `group` has committed `records` offsets of `topic` in all.
fn wait_committed(broker: &str, group: &str, topic: &str, records: u64, limit: Duration) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let deadline = Instant::now() + limit;
    loop {
        let committed: i64 = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(10))
            .map(|c| {
                c.elements()
                    .iter()
                    .filter_map(|e| e.offset().to_raw())
                    .filter(|o| *o > 0)
                    .sum()
            })
            .unwrap_or(0);
        if committed >= records as i64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{committed} of {records} committed after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Produce → durable latency at a 1 s flush interval, on local disk: records produced
/// at a steady rate for 20 s, each record's time from `send` to its object appearing.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also reports its usage"
)]
fn latency(dir: &Path, broker: &str, endpoint: &str) {
    const RATE: u64 = 5_000;
    const SECS: u64 = 20;
    create_topic(broker, "latency");
    let lake = dir.join("latency-lake");
    let (pipelines, _) = pipeline(
        dir,
        &Feed::Kafka(broker, "latency"),
        &lake.display().to_string(),
        "1s",
    );
    let child = weir(&pipelines, endpoint);
    std::thread::sleep(Duration::from_secs(3)); // joined the group
    let total = RATE * SECS;
    let watcher = std::thread::spawn({
        let lake = lake.clone();
        move || watch(&lake, total, Duration::from_secs(SECS + 60))
    });
    let producer = producer(broker);
    let started = Instant::now();
    let mut sent = Vec::with_capacity(total as usize);
    let mut buf = Vec::with_capacity(640);
    for n in 0..total {
        let due = started + Duration::from_micros(n * 1_000_000 / RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        buf.clear();
        let now = chrono::Utc::now().timestamp_millis();
        write_event(GeneratorKind::Orders, 1, n, now, false, &mut buf);
        sent.push(Instant::now());
        send(&producer, "latency", n, &buf);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let seen = watcher.join().unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait4(&child);
    let mut ms: Vec<f64> = seen
        .iter()
        .map(|(n, at)| at.duration_since(sent[*n as usize]).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    println!(
        "\n[latency] produce → durable on local disk, {RATE} records/s for {SECS} s, buffer.interval 1s"
    );
    println!(
        "  p50 {:.0} ms   p99 {:.0} ms   max {:.0} ms   ({} of {total} records seen; target p99 <= 2000 ms)",
        at(0.5),
        at(0.99),
        at(1.0),
        ms.len()
    );
}

/// Lists `lake` every 20 ms and reads each new Parquet object's order ids: when each
/// record was first seen durable.
fn watch(lake: &Path, total: u64, limit: Duration) -> Vec<(u64, Instant)> {
    let deadline = Instant::now() + limit;
    let mut read = HashSet::new();
    let mut seen = Vec::with_capacity(total as usize);
    while (seen.len() as u64) < total && Instant::now() < deadline {
        let at = Instant::now();
        for file in parquet_files(lake) {
            if read.insert(file.clone()) {
                seen.extend(order_ids(&file).into_iter().map(|n| (n, at)));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}

/// The record numbers in an object (`order_id` is `ord-<n>`).
fn order_ids(file: &Path) -> Vec<u64> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("order_id").unwrap();
        let strings = arrow_array::cast::AsArray::as_string::<i32>(column);
        for id in strings.iter().flatten() {
            ids.push(id.trim_start_matches("ord-").parse().unwrap());
        }
    }
    ids
}
