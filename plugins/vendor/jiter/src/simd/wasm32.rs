//! String scanning with WebAssembly's 128-bit SIMD (`simd128`), sixteen bytes at a time,
//! as the x86_64 and aarch64 modules do with SSE2 and NEON. Compiled only when the
//! target enables `simd128` (`-C target-feature=+simd128`).

use core::arch::wasm32::{i8x16_bitmask, i8x16_eq, u8x16_lt, u8x16_splat, v128, v128_or};

use crate::errors::{JsonResult, json_err};
use crate::string_decoder::StringChunk;

const SIMD_STEP: usize = 16;

#[inline]
pub(crate) fn decode_string_chunk(
    data: &[u8],
    mut index: usize,
    mut ascii_only: bool,
    allow_partial: bool,
) -> JsonResult<(StringChunk, bool, usize)> {
    while let Some(chunk) = data.get(index..index + SIMD_STEP) {
        // SAFETY: `chunk` holds sixteen bytes, read without an alignment requirement.
        let bytes = unsafe { chunk.as_ptr().cast::<v128>().read_unaligned() };
        // one bit per byte that ends the plain run: a quote, a backslash or a control character
        let stop = i8x16_bitmask(v128_or(
            v128_or(i8x16_eq(bytes, u8x16_splat(b'"')), i8x16_eq(bytes, u8x16_splat(b'\\'))),
            u8x16_lt(bytes, u8x16_splat(0x20)),
        ));
        // one bit per byte above 127
        let high = i8x16_bitmask(bytes);
        if stop != 0 {
            let pos = stop.trailing_zeros() as usize;
            // only the bytes before the stop belong to this chunk of the string
            if high & ((1u16 << pos) - 1) != 0 {
                ascii_only = false;
            }
            return match chunk[pos] {
                b'"' => Ok((StringChunk::StringEnd, ascii_only, index + pos)),
                b'\\' => Ok((StringChunk::Backslash, ascii_only, index + pos)),
                _ => json_err!(ControlCharacterWhileParsingString, index + pos),
            };
        }
        if high != 0 {
            ascii_only = false;
        }
        index += SIMD_STEP;
    }
    // fewer than sixteen bytes left: finish byte by byte
    super::fallback_string::decode_string_chunk(data, index, ascii_only, allow_partial)
}
