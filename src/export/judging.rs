//! Secrets by content judged on a section's own stream (DESIGN §3): the columns to judge, and
//! the verdicts from the first rows the section's COPY brings — what `content` decides to
//! leave to the stream, and what `snapshot` does with the rows it holds.

use anyhow::Context;
use bytes::Bytes;

use crate::export::copy::fields;
use crate::scope::catalog::Column;
use crate::scope::sampling::{SAMPLE_ROWS, judge_sampled, sample_value};

/// A section's columns whose content is judged on the first rows its COPY streams (up to
/// [`SAMPLE_ROWS`] of them, as the sample query would read), before any is written.
#[derive(Debug, Clone, Default)]
pub struct ToJudge {
    /// Text or bytea columns, all exported by the section's COPY.
    pub columns: Vec<Column>,
}

impl ToJudge {
    /// The columns judged secret by their values in `rows` (COPY rows of `names`, the COPY's
    /// columns in order): (column, reason).
    pub fn verdicts(
        &self,
        names: &[&str],
        rows: &[Bytes],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let at: Vec<usize> = self
            .columns
            .iter()
            .map(|c| {
                names
                    .iter()
                    .position(|n| *n == c.name)
                    .with_context(|| format!("the COPY has no column {}", c.name))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut sampled = Vec::with_capacity(rows.len().min(SAMPLE_ROWS));
        for row in rows.iter().take(SAMPLE_ROWS) {
            let values: Vec<Option<&[u8]>> = fields(row).collect::<anyhow::Result<_>>()?;
            sampled.push(
                at.iter()
                    .zip(&self.columns)
                    .map(|(&i, c)| {
                        values
                            .get(i)
                            .copied()
                            .flatten()
                            .map(|v| sample_value(v, c.type_name.starts_with("bytea")).to_vec())
                    })
                    .collect(),
            );
        }
        let columns: Vec<&Column> = self.columns.iter().collect();
        Ok(judge_sampled(&columns, &sampled))
    }
}
