//! The noise stream: a standard normal per query position, a pure function of (seed, position)
//! (SplitMix64 counter-based generator + Box-Muller), so a query meets the same luck under
//! every policy and no other stream moves.

/// SplitMix64: a counter-based generator, so a draw is a pure function of (stream, index).
#[inline]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The noise stream: a standard normal per query position.
#[derive(Debug, Clone, Copy)]
pub struct NoiseStream {
    key: u64,
}

/// Purpose tag of the noise stream (other streams use other tags or other generators).
const NOISE_STREAM: u64 = 0x5345_5256_4943_4531; // "SERVICE1"

impl NoiseStream {
    pub fn new(seed: u64) -> NoiseStream {
        NoiseStream {
            key: splitmix(seed ^ NOISE_STREAM),
        }
    }

    /// The standard normal of query position `q` (Box-Muller on two 53-bit uniforms).
    #[inline]
    pub fn normal(&self, q: u32) -> f64 {
        let a = splitmix(self.key ^ (q as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let b = splitmix(a);
        let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64; // in (0, 1)
        let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal draw with mean `mean_ns` and coefficient of variation `cv` for query `q`.
    #[inline]
    pub fn draw(&self, mean_ns: u64, cv: f64, q: u32) -> u64 {
        if cv == 0.0 {
            return mean_ns;
        }
        let s2 = (cv * cv).ln_1p();
        let m = (s2.sqrt() * self.normal(q) - s2 / 2.0).exp();
        ((mean_ns as f64 * m).round() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_requested_mean_and_cv() {
        for cv in [0.1, 0.5, 1.0] {
            let s = NoiseStream::new(7);
            let n = 1_000_000u32;
            let mean_ns = 10_000_000u64;
            let (mut sum, mut sq) = (0.0, 0.0);
            for q in 0..n {
                let x = s.draw(mean_ns, cv, q) as f64;
                sum += x;
                sq += x * x;
            }
            let m = sum / n as f64;
            let var = sq / n as f64 - m * m;
            let got_cv = var.sqrt() / m;
            assert!((m / mean_ns as f64 - 1.0).abs() < 0.01, "cv {cv}: mean {m}");
            assert!((got_cv / cv - 1.0).abs() < 0.01, "cv {cv}: got {got_cv}");
        }
    }

    #[test]
    fn streams_differ_by_seed_and_are_pure() {
        let (a, b) = (NoiseStream::new(1), NoiseStream::new(2));
        assert_eq!(a.normal(5), NoiseStream::new(1).normal(5));
        assert_ne!(a.normal(5), b.normal(5));
        assert_eq!(a.draw(1000, 0.0, 3), 1000);
    }
}
