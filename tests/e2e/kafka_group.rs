//! Daemons on one pipeline with its state in S3 (moto), reading a topic on a tansu
//! broker: each partition's state is claimed by the daemon reading it. Members of one
//! group split the partitions and hand them over on a clean stop; a daemon killed at
//! random moments and restarted each time on an empty local state directory has its
//! recorded cuts replayed from S3; a daemon paused (SIGSTOP) while another claims its
//! partitions writes nothing for them once resumed (SIGCONT). Each time, the lake must
//! hold every record exactly once (read back with DuckDB).
//!
//! tansu 0.6 keeps a member whose session expired in its group while another member
//! remains, and goes on assigning partitions to it: a group that loses a member to
//! SIGKILL or SIGSTOP can leave partitions unread for good. So the kill test runs one
//! member at a time, and the pause test has the second daemon read under its own
//! group, which hands it every partition at once; the state claim is what fences the
//! paused one either way.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::daemon::Daemon;
use common::kafka::*;
use common::orders::*;
use common::*;

const STATE: &str = "state:\n  url: s3://lake/weir-state\n";

/// A broker with the `orders` topic, a bucket, and the P1 pipeline with state in S3.
struct Setup {
    _broker: Server,
    broker: String,
    _moto: Server,
    endpoint: String,
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new(partitions: u32) -> Self {
        let (broker_server, broker) = start_broker();
        let (moto, endpoint) = start_moto();
        create_bucket(&endpoint, "lake");
        let tmp = tempfile::tempdir().unwrap();
        create_topic(&broker, "orders", partitions);
        kafka_pipeline(tmp.path(), &broker, "s3://lake/p1", STATE);
        Setup {
            _broker: broker_server,
            broker,
            _moto: moto,
            endpoint,
            tmp,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A member with its own (empty) local state directory and admin API, reading the
    /// pipelines in `pipelines` (under the setup's folder).
    fn member(&self, name: &str, pipelines: &str) -> Daemon {
        let state = self.dir().join(format!("state-{name}"));
        let mut cmd = weir_run(&self.dir().join(pipelines), &state);
        s3_env(&mut cmd, &self.endpoint);
        Daemon::with_admin(cmd, name)
    }

    /// The same pipeline for a daemon of another consumer group, in `pipelines-other`.
    fn other_group(&self) {
        let folder = self.dir().join("pipelines-other");
        std::fs::create_dir_all(&folder).unwrap();
        let text = std::fs::read_to_string(self.dir().join("pipelines/p1.yaml")).unwrap();
        let text = text.replace("group: weir-orders", "group: weir-orders-other");
        std::fs::write(folder.join("p1.yaml"), text).unwrap();
    }

    /// Produces orders `0..records` over the topic's partitions; their end offsets.
    fn produce(&self, records: u64, partitions: i64) -> BTreeMap<String, i64> {
        produce(self.dir(), &self.broker, (0, records), "");
        ends_after(records as i64, partitions)
    }

    /// Two members of one group, once each holds partitions.
    fn pair(&self) -> (Daemon, Daemon) {
        let first = self.member("a", "pipelines");
        assert!(first.wait_for("partitions assigned", Duration::from_secs(60)));
        let second = self.member("b", "pipelines");
        assert!(
            second.wait_for("partitions assigned", Duration::from_secs(60)),
            "the second member got no partition"
        );
        (first, second)
    }

    fn assert_exactly_once(&self, records: u64) {
        let (rows, ids, unfinished) = check_lake(&["s3", &self.endpoint, "lake"]);
        assert_eq!((rows, ids), (records, records), "every record exactly once");
        assert!(unfinished.is_empty(), "uploads left: {unfinished:?}");
    }
}

#[test]
fn members_share_a_topic_and_hand_partitions_over_on_a_clean_stop() {
    const RECORDS: u64 = 200_000;
    let setup = Setup::new(6);
    let ends = setup.produce(RECORDS, 6);
    let (first, second) = setup.pair();
    std::thread::sleep(Duration::from_millis(2_000));
    // SIGTERM: the first flushes, records and commits its partitions, then leaves.
    assert!(first.stop().success());
    wait_stored(&setup.endpoint, &ends, Duration::from_secs(240));
    let (puts, flushed) = (second.state_puts("p1"), second.flushes("p1"));
    eprintln!(
        "state per partition in S3: {puts} state writes for {flushed} flushes ({:.2} per flush, claims included)",
        puts / flushed.max(1.0)
    );
    assert!(second.stop().success());
    setup.assert_exactly_once(RECORDS);
    wait_until("the group's offsets to be committed", || {
        committed(&setup.broker, "weir-orders", "orders") == ends
    });
}

#[test]
fn killed_repeatedly_and_restarted_on_an_empty_local_state_directory_each_time() {
    const RECORDS: u64 = 200_000;
    let setup = Setup::new(4);
    let ends = setup.produce(RECORDS, 4);
    let mut rng = fastrand::Rng::with_seed(0x6b61_7374);
    let mut live_kills = 0;
    for round in 0..5 {
        let daemon = setup.member(&format!("round-{round}"), "pipelines");
        let assigned = daemon.wait_for("partitions assigned", Duration::from_secs(60));
        assert!(assigned, "round {round}: no partition was assigned");
        let after = Duration::from_millis(rng.u64(300..2_500));
        std::thread::sleep(after);
        live_kills += daemon.kill() as usize;
        eprintln!("round {round}: killed {after:?} after the assignment");
    }
    assert!(
        live_kills >= 5,
        "only {live_kills} kills found the daemon running"
    );
    let last = setup.member("last", "pipelines");
    wait_stored(&setup.endpoint, &ends, Duration::from_secs(240));
    assert!(last.stop().success());
    for round in 0..5 {
        let local = setup.dir().join(format!("state-round-{round}/p1"));
        assert!(
            !local.exists(),
            "nothing of the state is kept on local disk"
        );
    }
    setup.assert_exactly_once(RECORDS);
}

#[test]
fn a_paused_daemon_resumes_fenced_and_writes_nothing_for_partitions_claimed_meanwhile() {
    const RECORDS: u64 = 200_000;
    let setup = Setup::new(4);
    setup.other_group();
    let ends = setup.produce(RECORDS, 4);

    let zombie = setup.member("zombie", "pipelines");
    assert!(zombie.wait_for("partitions assigned", Duration::from_secs(60)));
    // Pause it while it holds buffers: its 1 s interval flushes are all due at resume.
    std::thread::sleep(Duration::from_millis(2_500));
    zombie.signal("STOP");
    eprintln!("paused the zombie; another daemon claims its partitions and finishes");
    let other = setup.member("other", "pipelines-other");
    wait_stored(&setup.endpoint, &ends, Duration::from_secs(240));
    assert!(other.stop().success());
    let keys_before = s3_keys(&setup.endpoint, "lake");
    setup.assert_exactly_once(RECORDS);

    zombie.signal("CONT");
    let noticed = zombie.wait_for_any(
        &["another daemon claimed the partition"],
        Duration::from_secs(30),
    );
    eprintln!("the resumed daemon noticed: {noticed:?}");
    assert!(
        noticed.is_some(),
        "the resumed daemon never found its partitions claimed"
    );
    // Whatever it buffered is dropped, not written: the lake gains no object.
    std::thread::sleep(Duration::from_secs(5));
    let data = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|k| k.ends_with(".parquet"))
            .collect()
    };
    assert_eq!(
        data(s3_keys(&setup.endpoint, "lake")),
        data(keys_before),
        "the resumed daemon wrote an object"
    );
    assert_eq!(
        stored_positions(&setup.endpoint, 4),
        ends,
        "the resumed daemon moved no stored position"
    );
    assert!(zombie.stop().success());
    setup.assert_exactly_once(RECORDS);
}
