//! The writer's side of partition lifecycle: a released partition is flushed, recorded
//! and acknowledged; a dropped one leaves nothing recorded, so it is read again whole.

use std::path::Path;

use super::{Group, GroupData, Routed, SinkWriter, open_store};
use crate::position::{Position, offsets};
use crate::state::{PipelineState, Snapshot};

fn routed(partition: &str, positions: &[u64], next: u64) -> Routed {
    let lines: String = positions
        .iter()
        .map(|p| format!("{{\"n\":{p}}}\n"))
        .collect();
    Routed {
        partition: partition.into(),
        next_position: Position::offset(next),
        rows: None,
        data: vec![Group {
            prefix: "x/".into(),
            data: GroupData::Lines(lines.into_bytes()),
            positions: offsets(positions),
        }],
        dead_letters: Vec::new(),
    }
}

fn objects(lake: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(lake.join("x"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn a_released_partition_is_recorded_and_a_dropped_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(
        &file,
        "apiVersion: weir/v1\nname: t\nsource:\n  type: generator\n  kind: orders\nsink:\n  url: lake\n  format: jsonl\n  prefix: x/\n  buffer:\n    interval: 1h\n    idle: 1h\n",
    )
    .unwrap();
    let spec = crate::config::validate_in(&file, dir.path()).unwrap();
    let state = PipelineState::local(&dir.path().join("state"), "t");
    let store = open_store(&spec.sink.location).unwrap();
    let mut writer = SinkWriter::new(
        "t",
        spec.sink.clone(),
        None,
        store,
        state.clone(),
        Snapshot::default(),
    )
    .await
    .unwrap();
    let acks = writer.acknowledgements();
    writer.accept(routed("a", &[0, 1], 2)).await.unwrap();
    writer.accept(routed("b", &[0, 1, 2], 3)).await.unwrap();

    let released = writer.release(&"a".into()).await.unwrap();
    assert_eq!(released, Some(Position::offset(2)));
    assert_eq!(
        acks.borrow().0.get("a"),
        Some(&Position::offset(2)),
        "acknowledged"
    );
    let lake = dir.path().join("lake");
    assert_eq!(
        objects(&lake).len(),
        1,
        "a's buffer was written: {:?}",
        objects(&lake)
    );

    writer.drop_partition(&"b".into()).await;
    writer.flush_all().await.unwrap();
    assert_eq!(objects(&lake).len(), 1, "nothing of b was written");
    let stored = state.load().await.unwrap();
    let b = stored.positions.0.get("b");
    assert!(
        b.is_none_or(|p| *p == Position::ZERO),
        "b's position never passed its dropped records: {b:?}"
    );
    assert_eq!(stored.positions.0.get("a"), Some(&Position::offset(2)));

    // Read again from its stored position, b lands whole, once.
    writer.accept(routed("b", &[0, 1, 2], 3)).await.unwrap();
    writer.flush_all().await.unwrap();
    let names = objects(&lake);
    assert_eq!(names.len(), 2, "{names:?}");
    let b = names.iter().find(|n| n.starts_with("t-b-")).unwrap();
    let text = std::fs::read_to_string(lake.join("x").join(b)).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert_eq!(
        state.load().await.unwrap().positions.0.get("b"),
        Some(&Position::offset(3))
    );
}
