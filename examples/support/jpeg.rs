//! A tiny baseline JPEG encoder for images made of flat 8×8 blocks — enough
//! for a test pattern, with no dependency.
//!
//! Each 8×8 block has one colour, so only the DC coefficient of each block
//! is non-zero: no DCT is needed. With a quantisation table of ones, the DC
//! of a flat block of value `v` is `8 · (v − 128)`. Components are full
//! resolution (4:4:4), one Huffman table for DC (the standard luminance DC
//! table of ITU T.81 Annex K) and one for AC holding a single symbol, EOB,
//! with the one-bit code `0`.

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Standard DC table: number of codes of each length 1..=16, then symbols.
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// Encode an image of `bw × bh` blocks (so `8·bw × 8·bh` pixels); `block`
/// gives the colour of the block at (column, row).
pub fn encode(bw: u16, bh: u16, block: impl Fn(u16, u16) -> Rgb) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024 + bw as usize * bh as usize * 2);
    out.extend_from_slice(&[0xFF, 0xD8]); // SOI
    // APP0 JFIF 1.1, no density, no thumbnail.
    out.extend_from_slice(&[
        0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    // DQT: table 0, 8-bit, all ones.
    out.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    out.extend_from_slice(&[1u8; 64]);
    // SOF0: 8 bits, height, width, 3 components 1×1 using table 0.
    let (w, h) = (bw * 8, bh * 8);
    out.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8]);
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    // DHT: DC table 0 (standard), AC table 0 (EOB only).
    out.extend_from_slice(&[0xFF, 0xC4, 0, 31, 0x00]);
    out.extend_from_slice(&DC_BITS);
    out.extend_from_slice(&DC_VALS);
    out.extend_from_slice(&[
        0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    // SOS: three components, all tables 0, full spectrum.
    out.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
    let codes = dc_codes();
    let mut bits = BitWriter {
        out: &mut out,
        acc: 0,
        n: 0,
    };
    let mut prev = [0i32; 3];
    for by in 0..bh {
        for bx in 0..bw {
            let ycc = ycbcr(block(bx, by));
            for c in 0..3 {
                let dc = 8 * (ycc[c] - 128);
                let diff = dc - prev[c];
                prev[c] = dc;
                let cat = (32 - diff.unsigned_abs().leading_zeros()) as usize;
                let (code, len) = codes[cat];
                bits.put(code, len);
                if cat > 0 {
                    let v = if diff < 0 { diff - 1 } else { diff };
                    bits.put(v as u32 & ((1 << cat) - 1), cat as u32);
                }
                bits.put(0, 1); // EOB: every AC coefficient is zero
            }
        }
    }
    bits.flush();
    out.extend_from_slice(&[0xFF, 0xD9]); // EOI
    out
}

/// The canonical codes of the DC table, by category: (code, length).
fn dc_codes() -> [(u32, u32); 12] {
    let mut codes = [(0, 0); 12];
    let (mut code, mut k) = (0u32, 0);
    for (i, &count) in DC_BITS.iter().enumerate() {
        for _ in 0..count {
            codes[DC_VALS[k] as usize] = (code, i as u32 + 1);
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    codes
}

fn ycbcr([r, g, b]: Rgb) -> [i32; 3] {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as i32)
}

/// Entropy-coded bits, MSB first, with 0xFF byte stuffing.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter<'_> {
    /// Append the `len` (≤ 16) low bits of `bits`.
    fn put(&mut self, bits: u32, len: u32) {
        self.acc = (self.acc << len) | u64::from(bits & ((1 << len) - 1));
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            let b = (self.acc >> self.n) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
        self.acc &= (1 << self.n) - 1;
    }

    /// Pad the last byte with ones.
    fn flush(&mut self) {
        if self.n > 0 {
            self.put(0xFF, 8 - self.n);
        }
    }
}
