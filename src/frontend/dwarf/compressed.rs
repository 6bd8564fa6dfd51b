//! Decompressing a compressed debug section without trusting its header.
//!
//! A compressed section (`SHF_COMPRESSED` with zlib or zstd, or the older
//! GNU `.zdebug_*` with its `ZLIB` header) states its uncompressed size up
//! front. That size is a claim made by the file, so it is never allocated:
//! the output buffer grows only as decompressed bytes actually arrive, and
//! decompression stops one byte past the claim. The section is malformed
//! when it would decompress to more or fewer bytes than claimed, or claims
//! more than the caller's cap.

use object::read::CompressionFormat;
use std::io::Read;

/// Decompress `data` (in `format`) into exactly `claimed` bytes, or explain
/// why the section is malformed. `cap` bounds the claim itself.
pub(super) fn decompress(format: CompressionFormat, data: &[u8], claimed: u64, cap: u64) -> Result<Vec<u8>, String> {
    if claimed > cap {
        return Err(format!(
            "malformed: its header claims {claimed} bytes uncompressed, more than the {cap} a section may have"
        ));
    }
    // One byte more than claimed is enough to know the claim is false.
    let limit = claimed + 1;
    // Start from what the compressed bytes can honestly hold at a modest
    // ratio; `read_to_end` grows the buffer from there as output arrives.
    let start = claimed.min(data.len() as u64 * 4).min(1 << 20);
    let mut out = Vec::with_capacity(start as usize);
    match format {
        CompressionFormat::Zlib => {
            flate2::read::ZlibDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| format!("malformed zlib data: {e}"))?;
        }
        CompressionFormat::Zstandard => zstd_frames(data, limit, &mut out)?,
        CompressionFormat::None => out.extend_from_slice(data),
        _ => return Err("compressed in an unsupported format".into()),
    }
    match out.len() as u64 {
        n if n > claimed => Err(format!("malformed: decompresses to more than the {claimed} bytes its header claims")),
        n if n < claimed => Err(format!("malformed: decompresses to {n} bytes, but its header claims {claimed}")),
        _ => Ok(out),
    }
}

/// The largest window the reference zstd decoder accepts by default
/// (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, 2^27 bytes); a larger one needs
/// `--long` on both sides, which no toolchain uses for debug sections.
const MAX_ZSTD_WINDOW: u64 = 1 << 27;

/// Decode a sequence of zstd frames (skippable frames skipped) into `out`,
/// stopping once `out` holds `limit` bytes.
fn zstd_frames(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), String> {
    use ruzstd::frame::ReadFrameHeaderError;
    use ruzstd::frame_decoder::FrameDecoderError;
    let bad = |e: &dyn std::fmt::Display| format!("malformed zstd data: {e}");
    let mut input = data;
    while !input.is_empty() && (out.len() as u64) < limit {
        // The decoder keeps a window of output it cannot hand out yet; a
        // frame header may ask for up to 3.75 TiB of it.
        let mut peek = input;
        if let Ok((frame, _)) = ruzstd::frame::read_frame_header(&mut peek) {
            let window = frame.header.window_size().map_err(|e| bad(&e))?;
            if window > MAX_ZSTD_WINDOW {
                return Err(bad(&format_args!(
                    "a frame asks for a {window}-byte window, more than the {MAX_ZSTD_WINDOW} zstd itself accepts"
                )));
            }
        }
        let decoder = match ruzstd::StreamingDecoder::new(&mut input) {
            Ok(d) => d,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                input = usize::try_from(length)
                    .ok()
                    .and_then(|l| input.get(l..))
                    .ok_or_else(|| bad(&"a skippable frame runs past the end of the section"))?;
                continue;
            }
            Err(e) => return Err(bad(&e)),
        };
        let room = limit - out.len() as u64;
        decoder.take(room).read_to_end(out).map_err(|e| bad(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::ZlibEncoder, Compression};
    use std::io::Write;

    const CAP: u64 = 1 << 32;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).expect("compress");
        e.finish().expect("compress")
    }

    /// One zstd frame of `blocks` RLE blocks, each `len` (at most 128 KiB)
    /// copies of `byte`: a few bytes in, `blocks * len` out.
    fn zstd_rle(byte: u8, len: u32, blocks: usize) -> Vec<u8> {
        // Magic; descriptor: no checksum, no content size, window follows;
        // window descriptor: 2^(10 + 7) = 128 KiB.
        let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
        for i in 0..blocks {
            let last = (i + 1 == blocks) as u32;
            let header = len << 3 | 1 << 1 | last;
            f.extend(&header.to_le_bytes()[..3]);
            f.push(byte);
        }
        f
    }

    /// A zstd frame holding `bytes` in one raw block.
    fn zstd_raw(bytes: &[u8]) -> Vec<u8> {
        let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
        f.extend(&((bytes.len() as u32) << 3 | 1).to_le_bytes()[..3]);
        f.extend(bytes);
        f
    }

    #[test]
    fn honest_sections_decompress() {
        let text: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let n = text.len() as u64;
        assert_eq!(decompress(CompressionFormat::Zlib, &zlib(&text), n, CAP), Ok(text.clone()));
        assert_eq!(decompress(CompressionFormat::Zstandard, &zstd_raw(&text), n, CAP), Ok(text.clone()));
        assert_eq!(decompress(CompressionFormat::Zstandard, &zstd_rle(7, 1000, 3), 3000, CAP), Ok(vec![7; 3000]));
        // Two frames with a skippable frame between them.
        let mut two = zstd_raw(b"abc");
        two.extend([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0xee, 0xee]);
        two.extend(zstd_raw(b"def"));
        assert_eq!(decompress(CompressionFormat::Zstandard, &two, 6, CAP), Ok(b"abcdef".to_vec()));
        assert_eq!(decompress(CompressionFormat::Zlib, &zlib(b""), 0, CAP), Ok(Vec::new()));
    }

    #[test]
    fn a_claim_larger_than_the_output_is_malformed() {
        // The header claims 3 GiB; the data holds 100 bytes. Nothing near
        // 3 GiB is ever allocated (see the `compressed section that lies`
        // script case for the process's memory).
        let claim = 3 << 30;
        let e = decompress(CompressionFormat::Zlib, &zlib(&[1; 100]), claim, CAP).expect_err("lying header");
        assert_eq!(e, format!("malformed: decompresses to 100 bytes, but its header claims {claim}"));
        let e = decompress(CompressionFormat::Zstandard, &zstd_raw(&[1; 100]), claim, CAP).expect_err("lying header");
        assert_eq!(e, format!("malformed: decompresses to 100 bytes, but its header claims {claim}"));
    }

    #[test]
    fn output_beyond_the_claim_stops_there() {
        // 10 MiB of zeros behind a claim of 1000 bytes; zstd's RLE blocks
        // would make 4 GiB from 128 KiB of input just as easily.
        let zeros = zlib(&vec![0; 10 << 20]);
        let e = decompress(CompressionFormat::Zlib, &zeros, 1000, CAP).expect_err("too much output");
        assert_eq!(e, "malformed: decompresses to more than the 1000 bytes its header claims");
        let rle = zstd_rle(0, 128 << 10, 80);
        let e = decompress(CompressionFormat::Zstandard, &rle, 1000, CAP).expect_err("too much output");
        assert_eq!(e, "malformed: decompresses to more than the 1000 bytes its header claims");
    }

    #[test]
    fn a_huge_zstd_window_is_refused_before_decoding() {
        // A window of 2^30 bytes: the decoder would hold back up to a
        // gigabyte of output (here all 12.5 MiB) before handing out a byte.
        let mut frame = zstd_rle(0, 128 << 10, 100);
        frame[5] = 20 << 3;
        let e = decompress(CompressionFormat::Zstandard, &frame, 100 << 17, CAP).expect_err("huge window");
        assert!(e.contains("a frame asks for a 1073741824-byte window"), "{e}");
        // Single-segment frames use their content size as the window.
        let mut single = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        single.extend((1u64 << 31).to_le_bytes());
        single.extend([1, 0, 0]);
        let e = decompress(CompressionFormat::Zstandard, &single, 1 << 31, CAP).expect_err("huge window");
        assert!(e.contains("a frame asks for a 2147483648-byte window"), "{e}");
    }

    #[test]
    fn claims_beyond_the_cap_are_refused_unread() {
        let e = decompress(CompressionFormat::Zlib, &zlib(b"x"), CAP + 1, CAP).expect_err("over the cap");
        assert!(e.starts_with("malformed: its header claims 4294967297 bytes uncompressed, more than"), "{e}");
        let e = decompress(CompressionFormat::Zlib, &zlib(&[0; 5000]), 5000, 4096).expect_err("over a small cap");
        assert!(e.contains("more than the 4096 a section may have"), "{e}");
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let e = decompress(CompressionFormat::Zlib, b"not zlib at all", 10, CAP).expect_err("garbage");
        assert!(e.starts_with("malformed zlib data"), "{e}");
        let e = decompress(CompressionFormat::Zstandard, b"not zstd at all", 10, CAP).expect_err("garbage");
        assert!(e.starts_with("malformed zstd data"), "{e}");
        let full = zlib(&(0..4000u32).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>());
        assert!(decompress(CompressionFormat::Zlib, &full[..full.len() / 2], 4000, CAP).is_err());
        let raw = zstd_raw(&[5; 300]);
        assert!(decompress(CompressionFormat::Zstandard, &raw[..100], 300, CAP).is_err());
        let mut skip = zstd_raw(b"abc");
        skip.extend([0x50, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0, 0, 1]);
        let e = decompress(CompressionFormat::Zstandard, &skip, 3, CAP).expect_err("skippable frame too long");
        assert!(e.contains("past the end"), "{e}");
    }
}
