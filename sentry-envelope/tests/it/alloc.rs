//! Decompression bombs: the cap holds for what is allocated, not only for
//! what is returned. A counting allocator measures the peak of live bytes
//! allocated by the current thread while a bomb is decompressed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use sentry_envelope::{BodyDecoder, ContentEncoding, DecompressError, decompress};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// wrapper only counts sizes in thread-local cells, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the peak of bytes it had allocated
/// and not yet freed on this thread.
fn peak_allocated<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

fn gzip_bomb(size: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..size >> 20 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

const CAP: usize = 1 << 20;

#[test]
fn gzip_bomb_allocates_no_more_than_the_cap() {
    // 10 MiB of zeros compress to about 10 KB.
    let bomb = gzip_bomb(10 << 20);
    assert!(bomb.len() < 12 * 1024, "bomb is {} bytes", bomb.len());

    let (result, peak) = peak_allocated(|| decompress(ContentEncoding::Gzip, &bomb, CAP));
    assert!(
        matches!(result, Err(DecompressError::TooLarge(_))),
        "{result:?}"
    );
    // The output buffer may reach the cap; the decoder's own state (a 32 KiB
    // window and buffers) comes on top.
    assert!(
        peak <= CAP + 256 * 1024,
        "peak allocation {peak} bytes for a cap of {CAP}"
    );
}

#[test]
fn bombs_in_every_encoding_stay_under_the_cap() {
    let data = vec![0u8; 8 << 20];
    let bodies = [
        (ContentEncoding::Gzip, gzip_bomb(8 << 20)),
        (
            ContentEncoding::Zstd,
            zstd::stream::encode_all(&data[..], 19).unwrap(),
        ),
        (ContentEncoding::Br, {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
                w.write_all(&data).unwrap();
            }
            out
        }),
        (ContentEncoding::Deflate, {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        }),
    ];
    for (encoding, body) in bodies {
        let (result, peak) = peak_allocated(|| {
            let mut decoder = BodyDecoder::new(encoding, CAP);
            let mut result = Ok(());
            for chunk in body.chunks(1024) {
                result = decoder.write(chunk);
                if result.is_err() {
                    break;
                }
            }
            result.and_then(|()| decoder.finish().map(|_| ()))
        });
        assert!(
            matches!(result, Err(DecompressError::TooLarge(_))),
            "{encoding}: {result:?}"
        );
        // Brotli and zstd keep a window of up to a few MiB of their own:
        // bounded by the format, not by the (attacker-chosen) output size.
        let allowance = match encoding {
            ContentEncoding::Gzip | ContentEncoding::Deflate => 256 * 1024,
            _ => 17 << 20,
        };
        assert!(
            peak <= CAP + allowance,
            "{encoding}: peak allocation {peak} bytes for a cap of {CAP}"
        );
    }
}
