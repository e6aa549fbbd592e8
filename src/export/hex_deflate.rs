//! A gzip member for a chunk of lowercase hex digits — the middle of a large `bytea` value,
//! which the JSON archive writes as `"\\x…"` — coded in one Huffman block of 4- and 5-bit
//! codes, without the LZ77 search.
//!
//! The hex of bytes that do not repeat (a file, an image, ciphertext: what large `bytea`
//! values hold) leaves deflate's match finder nothing to find, yet it looked for matches at
//! every byte: 600 MiB of hex cost 7 s of CPU at level 2 for 0.54 of the size (issue 21's
//! `onevalue`). Coded here, each digit costs one table lookup, and the size is 0.51 (4 bits
//! a digit, 5 for `f`). A chunk whose first 16 KiB deflate finds repeats in (zeros, a
//! bitmap) is left to deflate, which does better there; so is every chunk with one byte
//! that is not a hex digit.

use crate::export::deflate;

/// Digits whose code is 4 bits: `0`–`9`, `a`–`e`; `f` and the end of block take 5.
const FOUR_BIT: &[u8; 15] = b"0123456789abcde";

/// (bit-reversed code, length) per byte value; length 0: not a hex digit.
const CODES: [(u32, u32); 256] = {
    let mut codes = [(0u32, 0u32); 256];
    let mut i = 0;
    while i < 15 {
        codes[FOUR_BIT[i] as usize] = (reverse(i as u32, 4), 4);
        i += 1;
    }
    codes[b'f' as usize] = (reverse(0b11110, 5), 5);
    codes
};
/// The end of block (symbol 256).
const END_OF_BLOCK: (u32, u32) = (reverse(0b11111, 5), 5);

const fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

/// The probe: when deflate's fastest level shrinks the chunk's first 16 KiB below this share,
/// its repeats are worth more than the 0.51 of this coding.
const PROBE: usize = 16 * 1024;
const REPEATS_PAY: f64 = 0.45;

/// The chunk as one gzip member, or `None` when it is not all lowercase hex digits (or deflate
/// would find repeats in it): the caller deflates it then.
pub fn gzip_hex(chunk: &[u8]) -> Option<Vec<u8>> {
    if chunk.first().is_none_or(|&b| CODES[b as usize].1 == 0) || has_repeats(chunk) {
        return None;
    }
    code_hex(chunk)
}

/// [`gzip_hex`] without the probe for repeats.
fn code_hex(chunk: &[u8]) -> Option<Vec<u8>> {
    let mut bits = Bits::with_capacity(chunk.len() * 5 / 8 + 256);
    bits.out
        .extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    block_header(&mut bits);
    let blocks = chunk.chunks_exact(64);
    let rest = blocks.remainder();
    if !code_blocks(blocks, &mut bits) {
        return None;
    }
    for pair in rest.chunks(2) {
        let (code, len) = CODES[pair[0] as usize];
        let (code2, len2) = pair.get(1).map_or((0, 0), |&b| CODES[b as usize]);
        if len == 0 || (pair.len() == 2 && len2 == 0) {
            return None;
        }
        bits.put(code | code2 << len, len + len2);
    }
    bits.put(END_OF_BLOCK.0, END_OF_BLOCK.1);
    let mut out = bits.finish();
    let mut crc = flate2::Crc::new();
    crc.update(chunk);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    Some(out)
}

/// Per two bytes (little-endian: the first digit in the low byte): their codes concatenated
/// (first digit first) in the low 16 bits, their length (8 to 10) above, and [`NOT_HEX`]
/// when either is not a lowercase hex digit. 256 KiB, of which the 32 cache lines of
/// digit pairs are touched.
static PAIRS: [u32; 1 << 16] = {
    let mut pairs = [NOT_HEX; 1 << 16];
    let mut i = 0;
    while i < 1 << 16 {
        let (first, first_len) = CODES[i & 255];
        let (second, second_len) = CODES[i >> 8];
        if first_len > 0 && second_len > 0 {
            pairs[i] = (first | second << first_len) | (first_len + second_len) << 16;
        }
        i += 1;
    }
    pairs
};
const NOT_HEX: u32 = 1 << 31;

/// Whether deflate finds enough repeats in the chunk's start to beat this coding.
fn has_repeats(chunk: &[u8]) -> bool {
    let probe = &chunk[..chunk.len().min(PROBE)];
    let size = deflate::deflated_len(probe, 1).unwrap_or(usize::MAX);
    (size as f64) < probe.len() as f64 * REPEATS_PAY
}

/// The dynamic block's header (RFC 1951 §3.2.7): final block, 257 literal/length codes (the
/// digits at 4 and 5 bits, the end of block at 5), two unused distance codes of 1 bit, the
/// lengths themselves coded with a code-length code of five symbols.
fn block_header(bits: &mut Bits) {
    bits.put(1, 1); // BFINAL
    bits.put(2, 2); // BTYPE: dynamic Huffman
    bits.put(0, 5); // HLIT: 257 codes
    bits.put(1, 5); // HDIST: 2 codes
    bits.put(14, 4); // HCLEN: 18 code-length code lengths
    // Code-length code: 4, 17 and 18 in 2 bits; 1 and 5 in 3 (a complete code).
    let length_of = |symbol: usize| match symbol {
        4 | 17 | 18 => 2,
        1 | 5 => 3,
        _ => 0,
    };
    const ORDER: [usize; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for symbol in ORDER {
        bits.put(length_of(symbol), 3);
    }
    // Canonical codes, reversed: 4 → 00, 17 → 01, 18 → 10, 1 → 110, 5 → 111.
    let four = |bits: &mut Bits| bits.put(0b00, 2);
    let five = |bits: &mut Bits| bits.put(0b111, 3);
    let zeros = |bits: &mut Bits, mut n: u32| {
        while n > 0 {
            let run = n.min(138);
            bits.put(0b01, 2); // 18 (10, reversed)
            bits.put(run - 11, 7);
            n -= run;
        }
    };
    zeros(bits, u32::from(b'0')); // 0–47
    (0..10).for_each(|_| four(bits)); // '0'–'9'
    zeros(bits, u32::from(b'a' - b'9' - 1)); // 58–96
    (0..5).for_each(|_| four(bits)); // 'a'–'e'
    five(bits); // 'f'
    zeros(bits, 255 - u32::from(b'f')); // 103–255
    five(bits); // end of block
    bits.put(0b011, 3); // distance codes 0 and 1: length 1 (code 110, reversed)
    bits.put(0b011, 3);
}

/// Bits written least significant first, as deflate packs them.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    filled: u32,
}

impl Bits {
    fn with_capacity(n: usize) -> Bits {
        Bits {
            out: Vec::with_capacity(n),
            acc: 0,
            filled: 0,
        }
    }

    /// Appends the `len` (≤ 32) low bits of `value`.
    #[inline]
    fn put(&mut self, value: u32, len: u32) {
        self.acc |= u64::from(value) << self.filled;
        self.filled += len;
        if self.filled >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.filled -= 32;
        }
    }

    /// The bytes, the last one padded with zero bits.
    fn finish(mut self) -> Vec<u8> {
        let bytes = self.filled.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
        self.out
    }
}

/// Codes blocks of 64 digits, 32 pairs at a time, then checks once that all were digits (a
/// chunk of other text is given up within its first block); false if one was not. Four
/// pairs (at most 40 bits) at a time go into the accumulator, which is then written out
/// whole, 8 bytes at once, without a check of room or fill: the state in locals, not behind
/// `bits` (a byte written through it could alias them).
fn code_blocks(blocks: std::slice::ChunksExact<'_, u8>, bits: &mut Bits) -> bool {
    let start = bits.out.len();
    bits.out.resize(start + blocks.len() * 64 * 5 / 8 + 16, 0);
    let out = &mut bits.out[..];
    let (mut acc, mut filled, mut at) = (bits.acc, bits.filled, start);
    let mut spill = |acc: &mut u64, filled: &mut u32| {
        out[at..at + 8].copy_from_slice(&acc.to_le_bytes());
        let whole = *filled / 8;
        at += whole as usize;
        *acc >>= whole * 8; // 56 at most: fewer than 8 + 40 bits are filled
        *filled -= whole * 8;
    };
    spill(&mut acc, &mut filled); // fewer than 8 bits pending: room for four pairs
    for block in blocks {
        let mut seen = 0;
        for eight in block.chunks_exact(8) {
            let entry = |two: &[u8]| PAIRS[usize::from(u16::from_le_bytes([two[0], two[1]]))];
            let pairs = [
                entry(&eight[..2]),
                entry(&eight[2..4]),
                entry(&eight[4..6]),
                entry(&eight[6..]),
            ];
            for pair in pairs {
                acc |= u64::from(pair & 0xffff) << filled;
                filled += (pair >> 16) & 31;
                seen |= pair;
            }
            spill(&mut acc, &mut filled);
        }
        if seen & NOT_HEX != 0 {
            return false;
        }
    }
    bits.out.truncate(at);
    (bits.acc, bits.filled) = (acc, filled);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(member)
            .read_to_end(&mut back)
            .expect("a valid gzip member");
        back
    }

    fn random_hex(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"0123456789abcdef"[(x >> 40) as usize & 15]
            })
            .collect()
    }

    #[test]
    fn hex_of_random_bytes_comes_back_whole_at_about_half_the_size() {
        for n in [1, 2, 3, 31, 32, 33, 4096, 100_001, 1 << 20] {
            let hex = random_hex(n, n as u64);
            let member = gzip_hex(&hex).expect("all hex, no repeats");
            assert_eq!(gunzip(&member), hex, "{n} digits");
            if n >= 4096 {
                let ratio = member.len() as f64 / n as f64;
                assert!((0.5..0.53).contains(&ratio), "{n} digits: {ratio}");
            }
        }
        // Every digit, each at both places of a pair.
        let all = b"0123456789abcdeff0123456789abcde".repeat(3);
        assert_eq!(gunzip(&code_hex(&all).expect("all hex")), all);
    }

    #[test]
    fn anything_but_lowercase_hex_or_hex_with_repeats_is_left_to_deflate() {
        let mut hex = random_hex(10_000, 7);
        for bad in [b'A', b'"', b'g', b'\\', b'\n', 0] {
            hex[9_999] = bad;
            assert!(gzip_hex(&hex).is_none(), "{bad:#x} at the end");
            hex[0] = bad;
            assert!(gzip_hex(&hex).is_none(), "{bad:#x} first");
            hex[0] = b'0';
            // Inside a block of 64 digits, as the low digit of a pair.
            hex[5_001] = bad;
            assert!(gzip_hex(&hex).is_none(), "{bad:#x} inside");
            hex[5_001] = b'0';
            hex[9_999] = b'0';
        }
        assert!(gzip_hex(b"").is_none());
        // Zeros, or a short pattern: deflate's repeats win.
        assert!(gzip_hex(&vec![b'0'; 1 << 20]).is_none());
        assert!(gzip_hex(&b"0a1b2c3d".repeat(100_000)).is_none());
    }
}
