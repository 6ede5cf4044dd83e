//! Parquet-bound rows of one source batch, each tagged with its prefix. The decode stage
//! sends them as one Arrow batch; the writer splits them per prefix on arrival, so only
//! compact batches wait in the channels between stages.

use arrow_array::{RecordBatch, UInt32Array};

use super::buffers::{Group, GroupData};

pub struct PrefixedRows {
    pub batch: RecordBatch,
    /// Index into `names` for each row.
    pub prefix: Vec<u32>,
    pub names: Vec<String>,
    /// Source position of each row.
    pub positions: Vec<crate::position::Position>,
}

impl PrefixedRows {
    /// One group per prefix, rows in source order.
    pub fn split(self) -> Vec<Group> {
        let mut per_prefix: Vec<Vec<u32>> = vec![Vec::new(); self.names.len()];
        for (row, ix) in self.prefix.iter().enumerate() {
            per_prefix[*ix as usize].push(row as u32);
        }
        let mut groups = Vec::with_capacity(self.names.len());
        for (rows, name) in per_prefix.into_iter().zip(self.names) {
            if rows.is_empty() {
                continue;
            }
            let positions = rows
                .iter()
                .map(|r| self.positions[*r as usize].clone())
                .collect();
            let data = if rows.len() == self.batch.num_rows() {
                self.batch.clone()
            } else {
                let indices = UInt32Array::from(rows);
                let columns = self
                    .batch
                    .columns()
                    .iter()
                    .map(|c| arrow_select::take::take(c, &indices, None))
                    .collect::<Result<Vec<_>, _>>()
                    .expect("indices are in range");
                RecordBatch::try_new(self.batch.schema(), columns).expect("same schema")
            };
            groups.push(Group {
                prefix: name,
                data: GroupData::Arrow(data),
                positions,
            });
        }
        groups
    }
}
