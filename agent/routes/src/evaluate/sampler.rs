//! Per-request sampling: each request an independent draw, exact integer arithmetic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::model::Fraction;

/// A seeded source of per-request draws.
#[derive(Clone, Debug)]
pub struct Sampler {
    rng: SmallRng,
}

impl Sampler {
    /// A sampler with a fixed seed (reproducible draws).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A sampler seeded from the operating system.
    pub fn from_entropy() -> Self {
        Self {
            rng: SmallRng::from_entropy(),
        }
    }

    /// Draws once: `true` with probability `p / q`, where `q = q_threshold / 2³²` is the
    /// kernel's flow pre-sample rate for the endpoint (its
    /// [`capture_threshold`](crate::model::CaptureEndpoint::capture_threshold)), so that the
    /// overall rate is `p`.
    ///
    /// Exact: `n·2³² / (d·t)` compared in integers; capped at 1 when `p ≥ q`. A zero `p`
    /// never samples; a zero threshold (nothing captured) never samples.
    pub fn sample(&mut self, p: Fraction, q_threshold: u64) -> bool {
        if p.numerator == 0 || p.denominator == 0 || q_threshold == 0 {
            return false;
        }
        let t = u128::from(q_threshold.min(shadowtap_common::SAMPLE_ALL));
        let num = u128::from(p.numerator) << 32;
        let den = u128::from(p.denominator) * t;
        if num >= den {
            return true;
        }
        self.rng.gen_range(0..den) < num
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shadowtap_common::SAMPLE_ALL;

    #[test]
    fn edges() {
        let mut s = Sampler::new(1);
        assert!((0..1000).all(|_| s.sample(Fraction::ONE, SAMPLE_ALL)));
        assert!((0..1000).all(|_| !s.sample(Fraction::ZERO, SAMPLE_ALL)));
        assert!(!s.sample(Fraction::ONE, 0));
        // p > q caps at 1.
        let half = Fraction::new(1, 2).unwrap().threshold();
        assert!((0..1000).all(|_| s.sample(Fraction::percent(60).unwrap(), half)));
        // p = q exactly: always.
        assert!((0..1000).all(|_| s.sample(Fraction::new(1, 2).unwrap(), half)));
    }
}
