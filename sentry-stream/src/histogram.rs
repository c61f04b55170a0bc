//! A histogram with fixed buckets, updated without locks: for the batch
//! sizes and latencies consumers and the ingest edge report as metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds for durations in seconds, 1 ms to 30 s.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds for batch sizes, 1 to 10,000.
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Counts of observations per bucket, their sum and their number.
///
/// ```
/// use sentry_stream::Histogram;
///
/// let h = Histogram::new(&[1.0, 10.0]);
/// h.observe(0.5);
/// h.observe(7.0);
/// h.observe(100.0);
/// let s = h.snapshot();
/// assert_eq!(s.cumulative, [1, 2]);
/// assert_eq!((s.count, s.sum), (3, 107.5));
/// ```
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then one for everything above the last.
    counts: Vec<AtomicU64>,
    /// The sum's `f64` bits.
    sum: AtomicU64,
}

/// What a [`Histogram`] holds at one moment, as Prometheus reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The buckets' upper bounds.
    pub bounds: &'static [f64],
    /// Per bound, the observations at or below it.
    pub cumulative: Vec<u64>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// For durations in seconds ([`SECONDS_BUCKETS`]).
    pub fn seconds() -> Self {
        Self::new(SECONDS_BUCKETS)
    }

    /// For batch sizes ([`SIZE_BUCKETS`]).
    pub fn sizes() -> Self {
        Self::new(SIZE_BUCKETS)
    }

    /// Counts one observation.
    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let mut current = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for count in &self.counts[..self.bounds.len()] {
            running += count.load(Ordering::Relaxed);
            cumulative.push(running);
        }
        let count = running + self.counts[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            count,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

impl Default for Histogram {
    /// A histogram of durations in seconds.
    fn default() -> Self {
        Self::seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new(&[1.0, 2.0, 4.0]);
        for v in [0.0, 1.0, 1.5, 2.0, 3.9, 4.0, 4.1, 1e9] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 4, 6]);
        assert_eq!(s.count, 8);
        assert!((s.sum - (0.0 + 1.0 + 1.5 + 2.0 + 3.9 + 4.0 + 4.1 + 1e9)).abs() < 1e-6);
    }

    #[test]
    fn threads_lose_no_observation() {
        let h = std::sync::Arc::new(Histogram::sizes());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        h.observe(f64::from(i % 100));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count, 40_000);
        assert_eq!(s.sum, 4.0 * 100.0 * 4950.0);
    }
}
