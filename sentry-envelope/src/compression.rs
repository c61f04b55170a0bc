//! Request bodies in `gzip`, `deflate`, `br` and `zstd`, decompressed with a cap.
//!
//! The cap is enforced while decompressing: output is written into a buffer
//! that refuses to grow past the cap, so a small bomb fails after producing
//! at most `cap` bytes, whatever its ratio. [`BodyDecoder`] takes the body in
//! chunks as they arrive from the network; [`decompress`] takes it whole.

use std::fmt;
use std::io::{self, Read, Write};

use bytes::Bytes;

use crate::limits::{LimitError, LimitKind};

/// A `Content-Encoding` of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContentEncoding {
    /// No compression.
    #[default]
    Identity,
    /// gzip (also `x-gzip`).
    Gzip,
    /// zlib-wrapped deflate, as HTTP's `deflate` means (raw deflate is accepted too).
    Deflate,
    /// Brotli.
    Br,
    /// Zstandard.
    Zstd,
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value.
    ///
    /// Like Relay, an unknown or empty value means identity: the body is then
    /// parsed as it is, and a compressed body fails there with a clear error.
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            ContentEncoding::Gzip
        } else if value.eq_ignore_ascii_case("deflate") {
            ContentEncoding::Deflate
        } else if value.eq_ignore_ascii_case("br") {
            ContentEncoding::Br
        } else if value.eq_ignore_ascii_case("zstd") {
            ContentEncoding::Zstd
        } else {
            ContentEncoding::Identity
        }
    }

    /// Guesses the encoding from the first bytes of a body (for tools that
    /// read files, not for HTTP, where the header decides).
    pub fn sniff(body: &[u8]) -> Self {
        match body {
            [0x1f, 0x8b, ..] => ContentEncoding::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => ContentEncoding::Zstd,
            [0x78, b, ..] if (u16::from(0x78u8) << 8 | u16::from(*b)) % 31 == 0 => {
                ContentEncoding::Deflate
            }
            [b'{', ..] | [b' ' | b'\n' | b'\r' | b'\t', ..] => ContentEncoding::Identity,
            // Brotli has no magic number: try it last.
            _ if Self::looks_like_brotli(body) => ContentEncoding::Br,
            _ => ContentEncoding::Identity,
        }
    }

    fn looks_like_brotli(body: &[u8]) -> bool {
        // A brotli stream either decodes or produces output before failing
        // the cap; anything else is not brotli.
        matches!(
            decompress(ContentEncoding::Br, body, 64 * 1024),
            Ok(_) | Err(DecompressError::TooLarge(_))
        )
    }

    /// The header value, `None` for identity.
    pub fn name(self) -> Option<&'static str> {
        match self {
            ContentEncoding::Identity => None,
            ContentEncoding::Gzip => Some("gzip"),
            ContentEncoding::Deflate => Some("deflate"),
            ContentEncoding::Br => Some("br"),
            ContentEncoding::Zstd => Some("zstd"),
        }
    }
}

impl fmt::Display for ContentEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("identity"))
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The output would be larger than the cap.
    #[error("decompressed body too large: {0}")]
    TooLarge(LimitError),
    /// The input is not valid in its encoding (or is truncated).
    #[error("invalid {encoding} body: {message}")]
    Invalid {
        /// The encoding.
        encoding: ContentEncoding,
        /// What the decoder said.
        message: String,
    },
}

/// The error a [`CappedBuf`] returns; decoders pass it through.
#[derive(Debug)]
struct CapExceeded;

impl fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decompressed size cap exceeded")
    }
}

impl std::error::Error for CapExceeded {}

fn is_cap_exceeded(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<CapExceeded>())
}

/// A `Vec` that refuses to hold more than `cap` bytes, and never reserves
/// capacity beyond it.
#[derive(Debug)]
struct CappedBuf {
    buf: Vec<u8>,
    cap: usize,
    exceeded: bool,
}

impl CappedBuf {
    fn new(cap: usize) -> Self {
        CappedBuf {
            buf: Vec::new(),
            cap,
            exceeded: false,
        }
    }
}

impl Write for CappedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let needed = self.buf.len() + data.len();
        if needed > self.cap {
            self.exceeded = true;
            return Err(io::Error::other(CapExceeded));
        }
        if needed > self.buf.capacity() {
            let target = (self.buf.capacity() * 2)
                .max(needed)
                .max(8 * 1024)
                .min(self.cap);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inner {
    Identity(CappedBuf),
    Gzip(flate2::write::MultiGzDecoder<CappedBuf>),
    Zlib(flate2::write::ZlibDecoder<CappedBuf>),
    RawDeflate(flate2::write::DeflateDecoder<CappedBuf>),
    Br(Box<brotli::DecompressorWriter<CappedBuf>>),
    Zstd(Box<ZstdSink>),
    /// After an error: the decoder is gone.
    Failed,
}

/// A push decoder: feed it the chunks of a body as they arrive, then
/// [`finish`](BodyDecoder::finish). Fails as soon as the output passes the cap.
///
/// ```
/// use sentry_envelope::{BodyDecoder, ContentEncoding};
/// use std::io::Write;
///
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
/// gz.write_all(&[b'a'; 10_000]).unwrap();
/// let body = gz.finish().unwrap();
///
/// let mut decoder = BodyDecoder::new(ContentEncoding::Gzip, 1_000_000);
/// for chunk in body.chunks(100) {
///     decoder.write(chunk)?;
/// }
/// assert_eq!(decoder.finish()?.len(), 10_000);
///
/// let mut small = BodyDecoder::new(ContentEncoding::Gzip, 1_000);
/// assert!(small.write(&body).and_then(|_| small.finish().map(|_| ())).is_err());
/// # Ok::<(), sentry_envelope::DecompressError>(())
/// ```
pub struct BodyDecoder {
    encoding: ContentEncoding,
    inner: Inner,
    cap: usize,
    /// Whether a zlib `deflate` body turned out to be raw deflate.
    sniffed: bool,
    pending: Vec<u8>,
}

impl fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyDecoder")
            .field("encoding", &self.encoding)
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl BodyDecoder {
    /// A decoder for `encoding` whose output may not exceed `cap` bytes.
    #[allow(clippy::disallowed_methods)] // every decoder writes into a CappedBuf
    pub fn new(encoding: ContentEncoding, cap: usize) -> Self {
        let out = CappedBuf::new(cap);
        let inner = match encoding {
            ContentEncoding::Identity => Inner::Identity(out),
            ContentEncoding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(out)),
            // Decided on the first two bytes: zlib header or raw deflate.
            ContentEncoding::Deflate => Inner::Identity(out),
            ContentEncoding::Br => Inner::Br(Box::new(brotli::DecompressorWriter::new(out, 4096))),
            ContentEncoding::Zstd => match zstd::stream::raw::Decoder::new().and_then(|mut d| {
                // A frame may not ask for a window over 16 MiB (the format
                // allows 128 MiB by default).
                d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(24))?;
                Ok(d)
            }) {
                Ok(decoder) => Inner::Zstd(Box::new(ZstdSink {
                    decoder,
                    out,
                    frame_done: true,
                })),
                Err(_) => Inner::Failed,
            },
        };
        BodyDecoder {
            encoding,
            inner,
            cap,
            sniffed: encoding != ContentEncoding::Deflate,
            pending: Vec::new(),
        }
    }

    fn error(&mut self, error: io::Error) -> DecompressError {
        let exceeded = match &self.inner {
            Inner::Identity(b) => b.exceeded,
            Inner::Gzip(d) => d.get_ref().exceeded,
            Inner::Zlib(d) => d.get_ref().exceeded,
            Inner::RawDeflate(d) => d.get_ref().exceeded,
            Inner::Br(d) => d.get_ref().exceeded,
            Inner::Zstd(d) => d.out.exceeded,
            Inner::Failed => false,
        } || is_cap_exceeded(&error);
        self.inner = Inner::Failed;
        if exceeded {
            DecompressError::TooLarge(LimitError::new(
                LimitKind::EnvelopeSize,
                self.cap as u64 + 1,
                self.cap as u64,
            ))
        } else {
            DecompressError::Invalid {
                encoding: self.encoding,
                message: error.to_string(),
            }
        }
    }

    #[allow(clippy::disallowed_methods)] // writes into a CappedBuf
    fn choose_deflate(&mut self) {
        // HTTP `deflate` is zlib, but some clients send raw deflate: a zlib
        // stream starts with a CMF/FLG pair whose 16-bit value divides by 31.
        let zlib = match self.pending.as_slice() {
            [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
            _ => true,
        };
        let out = CappedBuf::new(self.cap);
        self.inner = if zlib {
            Inner::Zlib(flate2::write::ZlibDecoder::new(out))
        } else {
            Inner::RawDeflate(flate2::write::DeflateDecoder::new(out))
        };
        self.sniffed = true;
    }

    /// Feeds the next chunk of the body.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), DecompressError> {
        if !self.sniffed {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() < 2 {
                return Ok(());
            }
            self.choose_deflate();
            let pending = std::mem::take(&mut self.pending);
            return self.write(&pending);
        }
        let result = match &mut self.inner {
            Inner::Identity(b) => b.write_all(chunk),
            Inner::Gzip(d) => d.write_all(chunk),
            Inner::Zlib(d) => d.write_all(chunk),
            Inner::RawDeflate(d) => d.write_all(chunk),
            Inner::Br(d) => write_brotli(d, chunk),
            Inner::Zstd(d) => d.write_all(chunk),
            Inner::Failed => Err(io::Error::other("decoder failed earlier")),
        };
        result.map_err(|e| self.error(e))
    }

    /// Ends the body and returns the decoded bytes; fails on a truncated stream.
    pub fn finish(mut self) -> Result<Bytes, DecompressError> {
        if !self.sniffed {
            self.choose_deflate();
            let pending = std::mem::take(&mut self.pending);
            if !pending.is_empty() {
                self.write(&pending)?;
            }
        }
        let inner = std::mem::replace(&mut self.inner, Inner::Failed);
        let result = match inner {
            Inner::Identity(b) => Ok(b),
            Inner::Gzip(d) => d.finish(),
            Inner::Zlib(d) => d.finish(),
            Inner::RawDeflate(d) => d.finish(),
            Inner::Br(mut d) => d.close().and_then(|()| {
                (*d).into_inner()
                    .map_err(|_| io::Error::other("truncated brotli stream"))
            }),
            Inner::Zstd(d) => (*d).finish(),
            Inner::Failed => Err(io::Error::other("decoder failed earlier")),
        };
        match result {
            Ok(buf) if buf.exceeded => Err(DecompressError::TooLarge(LimitError::new(
                LimitKind::EnvelopeSize,
                self.cap as u64 + 1,
                self.cap as u64,
            ))),
            Ok(buf) => Ok(Bytes::from(buf.buf)),
            Err(e) if is_cap_exceeded(&e) => Err(DecompressError::TooLarge(LimitError::new(
                LimitKind::EnvelopeSize,
                self.cap as u64 + 1,
                self.cap as u64,
            ))),
            Err(e) => Err(DecompressError::Invalid {
                encoding: self.encoding,
                message: e.to_string(),
            }),
        }
    }
}

/// Feeds brotli; bytes after the end of the stream are an error (the
/// writer would otherwise drop them when they arrive in the same chunk).
///
/// Input goes in slices of at most 64 bytes: brotli-decompressor 5.0.3
/// checks a corrupt meta-block length only when it hands output back between
/// inputs, so a whole body fed at once could pass where the reference decoder
/// (and the same body fed in pieces) fails. Found by fuzzing.
fn write_brotli(
    decoder: &mut brotli::DecompressorWriter<CappedBuf>,
    chunk: &[u8],
) -> io::Result<()> {
    for piece in chunk.chunks(64) {
        match decoder.write(piece)? {
            n if n == piece.len() => {}
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "invalid brotli data",
                ));
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "trailing data after the end of the brotli stream",
                ));
            }
        }
    }
    Ok(())
}

/// zstd through its streaming API, so that a truncated frame is an error.
struct ZstdSink {
    decoder: zstd::stream::raw::Decoder<'static>,
    out: CappedBuf,
    /// Whether the input so far ends at a frame boundary.
    frame_done: bool,
}

impl ZstdSink {
    fn run(&mut self, mut input: zstd::stream::raw::InBuffer<'_>) -> io::Result<()> {
        use zstd::stream::raw::{Operation, OutBuffer};
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let mut output = OutBuffer::around(&mut scratch[..]);
            let hint = self.decoder.run(&mut input, &mut output)?;
            let (produced, full) = (output.pos(), output.pos() == output.capacity());
            self.out.write_all(&scratch[..produced])?;
            if hint == 0 {
                self.frame_done = true;
                if input.pos() < input.src.len() {
                    // Another frame follows.
                    self.decoder.reinit()?;
                }
            } else if input.pos() > 0 || produced > 0 {
                self.frame_done = false;
            }
            if input.pos() == input.src.len() && !full {
                return Ok(());
            }
        }
    }

    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.run(zstd::stream::raw::InBuffer::around(chunk))
    }

    fn finish(mut self) -> io::Result<CappedBuf> {
        self.run(zstd::stream::raw::InBuffer::around(&[]))?;
        if !self.frame_done {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated zstd frame",
            ));
        }
        Ok(self.out)
    }
}

/// Decompresses a whole body with a cap on the output.
///
/// ```
/// use sentry_envelope::{decompress, ContentEncoding};
/// assert_eq!(&decompress(ContentEncoding::Identity, b"{}", 10)?[..], b"{}");
/// assert!(decompress(ContentEncoding::Identity, b"{}", 1).is_err());
/// # Ok::<(), sentry_envelope::DecompressError>(())
/// ```
pub fn decompress(
    encoding: ContentEncoding,
    body: &[u8],
    cap: usize,
) -> Result<Bytes, DecompressError> {
    let mut decoder = BodyDecoder::new(encoding, cap);
    // Feed in slices so a failing stream stops early.
    for chunk in body.chunks(64 * 1024) {
        decoder.write(chunk)?;
    }
    decoder.finish()
}

/// Reads at most `cap` bytes from a reader; more is an error naming the cap.
///
/// The bounded replacement for `Read::read_to_end` on anything from outside.
pub fn read_capped(reader: impl Read, cap: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut limited = reader.take(cap as u64 + 1);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = limited.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        if out.len() + n > cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("input larger than the limit of {cap} bytes"),
            ));
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(encoding: ContentEncoding, data: &[u8]) -> Vec<u8> {
        match encoding {
            ContentEncoding::Identity => data.to_vec(),
            ContentEncoding::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            ContentEncoding::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            ContentEncoding::Br => {
                let mut out = Vec::new();
                {
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    w.write_all(data).unwrap();
                }
                out
            }
            ContentEncoding::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
        }
    }

    const ALL: [ContentEncoding; 5] = [
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Br,
        ContentEncoding::Zstd,
    ];

    #[test]
    fn round_trips_every_encoding_in_chunks() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for encoding in ALL {
            let body = compress(encoding, &data);
            for chunk_size in [1, 7, 4096, body.len().max(1)] {
                let mut d = BodyDecoder::new(encoding, data.len());
                for chunk in body.chunks(chunk_size) {
                    d.write(chunk).unwrap();
                }
                assert_eq!(
                    &d.finish().unwrap()[..],
                    &data[..],
                    "{encoding} / {chunk_size}"
                );
            }
            assert_eq!(ContentEncoding::sniff(&body), encoding, "sniff {encoding}");
        }
    }

    #[test]
    fn raw_deflate_is_accepted() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"{\"hello\":1}").unwrap();
        let body = e.finish().unwrap();
        assert_eq!(
            &decompress(ContentEncoding::Deflate, &body, 100).unwrap()[..],
            b"{\"hello\":1}"
        );
    }

    #[test]
    fn cap_is_enforced_for_every_encoding() {
        let data = vec![0u8; 1_000_000];
        for encoding in ALL {
            let body = compress(encoding, &data);
            match decompress(encoding, &body, 999_999) {
                Err(DecompressError::TooLarge(e)) => assert_eq!(e.max, 999_999),
                other => panic!("{encoding}: expected TooLarge, got {other:?}"),
            }
            assert_eq!(
                decompress(encoding, &body, 1_000_000).unwrap().len(),
                1_000_000
            );
        }
    }

    #[test]
    fn truncated_and_garbage_are_invalid() {
        let data = b"{\"message\":\"hello world hello world\"}".repeat(100);
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Br,
            ContentEncoding::Zstd,
        ] {
            let body = compress(encoding, &data);
            let cut = &body[..body.len() / 2];
            assert!(
                matches!(
                    decompress(encoding, cut, 1 << 20),
                    Err(DecompressError::Invalid { .. })
                ),
                "{encoding} truncated"
            );
            assert!(
                matches!(
                    decompress(encoding, b"this is not compressed at all", 1 << 20),
                    Err(DecompressError::Invalid { .. })
                ),
                "{encoding} garbage"
            );
        }
    }

    #[test]
    fn brotli_trailing_data_is_invalid_whatever_the_chunks() {
        // Found by fuzzing: a complete stream followed by more bytes was
        // accepted when both came in one chunk and refused when split.
        let mut body = compress(ContentEncoding::Br, b"{\"a\":1}");
        body.extend_from_slice(&compress(ContentEncoding::Br, b"{\"b\":2}"));
        for chunk_size in [1, 3, body.len()] {
            let mut d = BodyDecoder::new(ContentEncoding::Br, 1 << 20);
            let result = body
                .chunks(chunk_size)
                .try_for_each(|c| d.write(c))
                .and_then(|()| d.finish().map(|_| ()));
            assert!(
                matches!(result, Err(DecompressError::Invalid { .. })),
                "{chunk_size}: {result:?}"
            );
        }
    }

    #[test]
    fn corrupt_brotli_meta_block_is_invalid() {
        // Found by fuzzing (fuzz/regressions/): Google's decoder rejects this
        // body at byte 78; fed whole, brotli-decompressor used to accept it.
        let input = include_bytes!("../../fuzz/regressions/decompress-brotli-metablock-length");
        let body = &input[1..];
        assert!(matches!(
            decompress(ContentEncoding::Br, body, 1 << 20),
            Err(DecompressError::Invalid { .. })
        ));
    }

    #[test]
    fn header_values() {
        assert_eq!(ContentEncoding::parse(" GZIP "), ContentEncoding::Gzip);
        assert_eq!(ContentEncoding::parse("x-gzip"), ContentEncoding::Gzip);
        assert_eq!(ContentEncoding::parse("deflate"), ContentEncoding::Deflate);
        assert_eq!(ContentEncoding::parse("br"), ContentEncoding::Br);
        assert_eq!(ContentEncoding::parse("zstd"), ContentEncoding::Zstd);
        assert_eq!(
            ContentEncoding::parse("identity"),
            ContentEncoding::Identity
        );
        assert_eq!(ContentEncoding::parse("lzma"), ContentEncoding::Identity);
    }

    #[test]
    fn read_capped_stops() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3).is_err());
    }
}
