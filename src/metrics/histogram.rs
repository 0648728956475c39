//! A fixed-bucket histogram, the shape Prometheus exposes: counts per upper bound, a sum and a
//! count. Fixed buckets (not HDR) because the exposition needs them anyway, they merge across shards
//! by adding, and an observation is a short linear scan with no allocation.

/// Latency buckets in milliseconds: RocketMQ 5's rpc-latency boundaries (1, 3, 5, 7, 10, 100 ms,
/// 1, 3 s) with finer steps below a millisecond, where Bolide's answers mostly fall.
pub const LATENCY_MS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 3.0, 5.0, 7.0, 10.0, 100.0, 1000.0, 3000.0,
];

/// Message-size buckets in bytes: RocketMQ 5's `rocketmq_message_size` boundaries.
pub const MESSAGE_SIZE_BYTES: &[f64] = &[
    1024.0,
    4096.0,
    524_288.0,
    1_048_576.0,
    2_097_152.0,
    4_194_304.0,
];

/// See the module comment. `counts[i]` counts observations `<= bounds[i]` and above the bound
/// before it; the last slot counts those above every bound (`+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(LATENCY_MS)
    }
}

impl Histogram {
    /// `bounds` must be ascending.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        self.observe_n(v, 1);
    }

    /// `n` observations of `v`.
    pub fn observe_n(&mut self, v: f64, n: u64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += n;
        self.sum += v * n as f64;
    }

    /// Adds `other`'s observations (same bounds; others are ignored).
    pub fn merge(&mut self, other: &Histogram) {
        if other.bounds != self.bounds {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
    }

    /// The observations made since `earlier` (a previous copy of this histogram).
    pub fn minus(&self, earlier: &Histogram) -> Histogram {
        let mut out = self.clone();
        if earlier.bounds == self.bounds {
            for (a, b) in out.counts.iter_mut().zip(&earlier.counts) {
                *a = a.saturating_sub(*b);
            }
            out.sum = (out.sum - earlier.sum).max(0.0);
        }
        out
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `(upper bound, observations <= it)` for every bound, then `(+Inf, count)`: Prometheus's
    /// cumulative `le` buckets.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        let mut out = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            out.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), acc));
        }
        out
    }

    /// The smallest bucket bound under which at least `q` (0..=1) of the observations fall
    /// (`None` when empty; `+Inf` when they lie above every bound).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = ((n as f64) * q).ceil().max(1.0) as u64;
        self.cumulative()
            .into_iter()
            .find(|(_, c)| *c >= want)
            .map(|(b, _)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bound_at_or_above_them() {
        let mut h = Histogram::new(&[1.0, 10.0]);
        h.observe(0.5);
        h.observe(1.0);
        h.observe(5.0);
        h.observe(50.0);
        assert_eq!(
            h.cumulative(),
            vec![(1.0, 2), (10.0, 3), (f64::INFINITY, 4)]
        );
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 56.5).abs() < 1e-9);
        assert_eq!(h.quantile_bound(0.5), Some(1.0));
        assert_eq!(h.quantile_bound(0.75), Some(10.0));
        assert_eq!(h.quantile_bound(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn merge_adds_counts_and_sums() {
        let mut a = Histogram::new(LATENCY_MS);
        let mut b = Histogram::new(LATENCY_MS);
        a.observe(0.2);
        b.observe_n(2000.0, 3);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert!((a.sum() - 6000.2).abs() < 1e-9);
        assert_eq!(Histogram::new(LATENCY_MS).quantile_bound(0.5), None);
    }
}
