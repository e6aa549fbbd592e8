//! Deflate, with one compressor per thread and level kept for the thread's life: the
//! archive's 1 MiB chunks (whole gzip members, one-shot APIs) and the hex coder's probe for
//! repeats. A fresh compressor and output buffer are ~1.5 MiB of allocations and page
//! faults, per chunk (issue 21).
//!
//! Level 1, the default, is ISA-L's igzip (feature `isal`): on the `shared` benchmark's JSON
//! 789 MB/s to 0.299 of the size, where libdeflate's level 1 does 257 MB/s to 0.305. The
//! other levels, the probe, and level 1 without the feature are libdeflate's.

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
    #[cfg(feature = "isal")]
    if level == 1
        && let Some(member) = igzip::gzip_member(chunk)
    {
        return Ok(member);
    }
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

/// ISA-L's one-shot (stateless) level 1 with a level buffer of its default size, kept per
/// thread like libdeflate's compressors.
#[cfg(feature = "isal")]
mod igzip {
    use std::cell::RefCell;

    use isal_sys::igzip_lib as ffi;

    struct Igzip {
        /// 80 KiB of state: boxed.
        stream: Box<ffi::isal_zstream>,
        level_buf: Vec<u8>,
        scratch: Vec<u8>,
    }

    thread_local! {
        static IGZIP: RefCell<Option<Igzip>> = const { RefCell::new(None) };
    }

    /// The chunk as one gzip member at level 1; `None` if ISA-L refuses (it does not for a
    /// chunk and room this size: the caller then uses libdeflate).
    pub fn gzip_member(chunk: &[u8]) -> Option<Vec<u8>> {
        let len = u32::try_from(chunk.len()).ok()?;
        IGZIP.with_borrow_mut(|kept| {
            let igzip = kept.get_or_insert_with(|| Igzip {
                // SAFETY: a plain C struct of integers and pointers, all-zero valid; the
                // stateless init below sets every field the one-shot call reads.
                stream: Box::new(unsafe { std::mem::zeroed() }),
                level_buf: vec![0; ffi::ISAL_DEF_LVL1_DEFAULT as usize],
                scratch: Vec::new(),
            });
            // Stored blocks at worst (5 bytes of header per block of up to 64 KiB; counted
            // per 16 KiB to spare), the gzip header and trailer, the largest block header.
            let room = chunk.len()
                + 5 * (chunk.len() / 16384 + 1)
                + ffi::ISAL_DEF_MAX_HDR_SIZE as usize
                + 64;
            igzip.scratch.resize(room.max(igzip.scratch.len()), 0);
            let stream = &mut *igzip.stream;
            // SAFETY: `stream` is valid for writes; the pointers set below outlive the call
            // (the input is only read, though the C field is not const).
            let code = unsafe {
                ffi::isal_deflate_stateless_init(stream);
                stream.level = 1;
                stream.level_buf = igzip.level_buf.as_mut_ptr();
                stream.level_buf_size = igzip.level_buf.len() as u32;
                stream.gzip_flag = ffi::IGZIP_GZIP as u16;
                stream.end_of_stream = 1;
                stream.next_in = chunk.as_ptr().cast_mut();
                stream.avail_in = len;
                stream.next_out = igzip.scratch.as_mut_ptr();
                stream.avail_out = u32::try_from(igzip.scratch.len()).ok()?;
                ffi::isal_deflate_stateless(stream)
            };
            (code == ffi::COMP_OK as i32)
                .then(|| igzip.scratch[..stream.total_out as usize].to_vec())
        })
    }
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
        // Random bytes: no repeats, stored blocks at best.
        let mut x = 1u64;
        let noise: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for level in [0, 1, 2, 6, 9] {
            // Twice each, and after another level: a reused state must not carry anything over.
            for part in [&text[..], &text[..1000], &noise[..], &text[..], &b""[..]] {
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

    #[cfg(feature = "isal")]
    #[test]
    fn level_one_is_igzips_for_text_noise_and_nothing() {
        let text = "{\"n\":1,\"s\":\"x\"},".repeat(50_000);
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for part in [text.as_bytes(), &noise, b""] {
            assert!(igzip::gzip_member(part).is_some(), "{} bytes", part.len());
        }
    }
}
