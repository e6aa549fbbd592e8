//! Draining a COPY stream on its own task, apart from rendering and compression (issue 21).
//!
//! tokio-postgres hands a query's messages to its consumer through a channel of one batch:
//! while the consumer renders, compresses or writes, the connection stops reading the
//! socket, the socket buffers fill, and the server's COPY blocks in `send()` — the client
//! throttles the server, and the snapshot is held longer. Here a task of its own pulls the
//! stream as fast as the server sends it into a bounded buffer ([`BUFFERED`] bytes at most,
//! in batches of the messages as received, not copied), and the renderer takes batches from
//! that buffer: the same messages in the same order.
//!
//! Not here: parsing the rows (`copy.rs`), rendering them (`render.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::Error as PgError;

/// Bytes of COPY data the buffer holds at most (a message larger than this takes all of
/// it): with the chunks being compressed, and one buffer per `--jobs` reader (at most 4 by
/// default), within the 64 MiB the export may use.
pub const BUFFERED: usize = 8 << 20;

/// Messages already received are handed over in batches of up to this many bytes: one
/// channel hand-off per batch instead of one per row.
const BATCH: usize = 256 << 10;

/// The far end of a drained COPY stream: batches in stream order, and when the server's
/// last byte arrived.
pub struct Drained {
    batches: mpsc::Receiver<Item>,
    /// The buffer's room, in KiB: a batch holds its share until the next one is taken.
    held: Option<OwnedSemaphorePermit>,
    ended: Option<oneshot::Receiver<Instant>>,
    task: JoinHandle<()>,
}

/// A batch of COPY messages, as tokio-postgres hands them over (not copied), with its room.
type Item = (Result<Vec<Bytes>, PgError>, Option<OwnedSemaphorePermit>);

impl Drained {
    /// Starts draining `stream` on a task of its own.
    pub fn spawn<S>(stream: S) -> Drained
    where
        S: Stream<Item = Result<Bytes, PgError>> + Send + 'static,
    {
        let (tx, batches) = mpsc::channel(BUFFERED / BATCH);
        let (ended_tx, ended) = oneshot::channel();
        let room = Arc::new(Semaphore::new(BUFFERED >> 10));
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let Some(first) = stream.next().await else {
                    break;
                };
                let (batch, bytes, failed, finished) = batch_from(first, &mut stream);
                if !batch.is_empty() {
                    let kib = bytes.div_ceil(1024).clamp(1, BUFFERED >> 10) as u32;
                    let Ok(permit) = room.clone().acquire_many_owned(kib).await else {
                        return;
                    };
                    if tx.send((Ok(batch), Some(permit))).await.is_err() {
                        return; // the renderer gave up: stop reading
                    }
                }
                if let Some(err) = failed {
                    let _ = tx.send((Err(err), None)).await;
                    return;
                }
                if finished {
                    break;
                }
            }
            let _ = ended_tx.send(Instant::now());
        });
        Drained {
            batches,
            held: None,
            ended: Some(ended),
            task,
        }
    }

    /// The next batch of COPY messages; `None` at the end of the stream. The previous
    /// batch's room in the buffer is given back.
    pub async fn next(&mut self) -> Option<Result<Vec<Bytes>, PgError>> {
        self.held = None;
        let (item, permit) = self.batches.recv().await?;
        self.held = permit;
        Some(item)
    }

    /// When the server's last byte arrived (once the stream has ended).
    pub async fn ended_at(&mut self) -> Option<Instant> {
        self.ended.take()?.await.ok()
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        // A failed or cancelled section: nobody reads the rest.
        self.task.abort();
    }
}

/// `first` plus the messages already received after it, while the batch is under [`BATCH`]
/// bytes: the batch, its size, the error that ended it, and whether the stream has ended.
fn batch_from<S>(
    first: Result<Bytes, PgError>,
    stream: &mut Pin<&mut S>,
) -> (Vec<Bytes>, usize, Option<PgError>, bool)
where
    S: Stream<Item = Result<Bytes, PgError>>,
{
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut next = Some(Some(first));
    loop {
        match next {
            Some(Some(Ok(message))) => {
                bytes += message.len();
                batch.push(message);
            }
            Some(Some(Err(err))) => return (batch, bytes, Some(err), true),
            Some(None) => return (batch, bytes, None, true),
            // Nothing received yet: hand over what we have.
            None => return (batch, bytes, None, false),
        }
        // Full: hand it over before taking another message off the stream.
        if bytes >= BATCH {
            return (batch, bytes, None, false);
        }
        next = stream.next().now_or_never();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message arrives once, in order, whatever the batch boundaries (a message taken
    /// off the stream when a batch fills must not be lost).
    #[tokio::test]
    async fn every_message_arrives_once_in_order() {
        let sizes = [10usize, BATCH - 10, 1, BATCH, 3, BATCH * 2, 7, 5];
        let messages: Vec<Bytes> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from(vec![i as u8; n]))
            .collect();
        let stream = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
        let mut drained = Drained::spawn(stream);
        let mut got = Vec::new();
        while let Some(batch) = drained.next().await {
            got.extend(batch.unwrap());
        }
        assert_eq!(got, messages);
        assert!(drained.ended_at().await.is_some());
    }
}
