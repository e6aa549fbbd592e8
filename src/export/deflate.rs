//! Deflate by libdeflate, with one compressor per thread and level kept for the thread's
//! life: the archive's 1 MiB chunks (whole gzip members, libdeflate's one-shot API) and the
//! hex coder's probe for repeats. A fresh compressor and output buffer are ~1.5 MiB of
//! allocations and page faults, per chunk (issue 21).

use std::cell::RefCell;

use libdeflater::{CompressionLvl, Compressor};

struct Deflate {
    level: u32,
    compressor: Compressor,
    /// Output room, grown to the largest bound asked for.
    scratch: Vec<u8>,
}

thread_local! {
    /// This thread's compressors, one per level used (the chunks' and the probe's).
    static DEFLATE: RefCell<Vec<Deflate>> = const { RefCell::new(Vec::new()) };
}

/// Runs `compress` with this thread's compressor for `level` and an output buffer of at
/// least `bound(compressor)` bytes.
fn with_compressor<T>(
    level: u32,
    bound: impl FnOnce(&mut Compressor) -> usize,
    compress: impl FnOnce(&mut Compressor, &mut [u8]) -> Result<T, libdeflater::CompressionError>,
) -> std::io::Result<T> {
    DEFLATE.with_borrow_mut(|kept| {
        let at = match kept.iter().position(|d| d.level == level) {
            Some(at) => at,
            None => {
                let lvl = CompressionLvl::new(level as i32).map_err(|e| {
                    std::io::Error::other(format!("compression level {level}: {e:?}"))
                })?;
                kept.push(Deflate {
                    level,
                    compressor: Compressor::new(lvl),
                    scratch: Vec::new(),
                });
                kept.len() - 1
            }
        };
        let deflate = &mut kept[at];
        let bound = bound(&mut deflate.compressor);
        if deflate.scratch.len() < bound {
            deflate.scratch.resize(bound, 0);
        }
        compress(&mut deflate.compressor, &mut deflate.scratch)
            .map_err(|e| std::io::Error::other(format!("compressing: {e:?}")))
    })
}

/// One chunk as one gzip member.
pub fn gzip_member(chunk: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    with_compressor(
        level,
        |c| c.gzip_compress_bound(chunk.len()),
        |c, out| c.gzip_compress(chunk, out).map(|len| out[..len].to_vec()),
    )
}

/// The size of `data` as raw deflate at `level`.
pub fn deflated_len(data: &[u8], level: u32) -> std::io::Result<usize> {
    with_compressor(
        level,
        |c| c.deflate_compress_bound(data.len()),
        |c, out| c.deflate_compress(data, out),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_member_made_with_a_reused_deflate_state_is_a_fresh_states_and_gives_the_chunk_back() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("{{\"n\":{},\"s\":\"x{}\"}},", i, i % 977).into_bytes())
            .collect();
        for level in [0, 1, 2, 6, 9] {
            // Twice each, and after another level: a reused state must not carry anything over.
            for part in [&text[..], &text[..1000], &text[..], &b""[..]] {
                let member = gzip_member(part, level).unwrap();
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&member[..])
                    .read_to_end(&mut back)
                    .unwrap();
                assert!(back == part, "level {level}: not the chunk back");
                let fresh = std::thread::scope(|s| s.spawn(|| gzip_member(part, level)).join());
                assert!(
                    fresh.unwrap().unwrap() == member,
                    "level {level}: state carried over"
                );
            }
        }
    }
}
