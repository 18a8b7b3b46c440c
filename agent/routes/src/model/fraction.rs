//! Exact mirror probabilities as rationals.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

/// A probability `numerator / denominator`, kept exact (1/1000 is never rounded to a percent).
///
/// Invariant (enforced by [`Fraction::new`]): `denominator >= 1` and
/// `numerator <= denominator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Fraction {
    /// Numerator, `0..=denominator`.
    pub numerator: u32,
    /// Denominator, at least 1.
    pub denominator: u32,
}

impl Fraction {
    /// Probability 1.
    pub const ONE: Fraction = Fraction {
        numerator: 1,
        denominator: 1,
    };
    /// Probability 0.
    pub const ZERO: Fraction = Fraction {
        numerator: 0,
        denominator: 1,
    };

    /// `numerator / denominator`, or `None` when `denominator == 0` or
    /// `numerator > denominator`.
    pub const fn new(numerator: u32, denominator: u32) -> Option<Fraction> {
        if denominator == 0 || numerator > denominator {
            None
        } else {
            Some(Fraction {
                numerator,
                denominator,
            })
        }
    }

    /// `percent / 100`, or `None` above 100.
    pub const fn percent(percent: u32) -> Option<Fraction> {
        Self::new(percent, 100)
    }

    /// The kernel's flow pre-sample threshold for this probability (`floor(n·2³²/d)`).
    pub const fn threshold(self) -> u64 {
        shadowtap_common::flow_hash::threshold_for_fraction(self.numerator, self.denominator)
    }
}

impl PartialOrd for Fraction {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Fraction {
    /// Compares the probabilities exactly (cross multiplication), then the representation.
    fn cmp(&self, other: &Self) -> Ordering {
        let a = u64::from(self.numerator) * u64::from(other.denominator);
        let b = u64::from(other.numerator) * u64::from(self.denominator);
        a.cmp(&b)
            .then(self.denominator.cmp(&other.denominator))
            .then(self.numerator.cmp(&other.numerator))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.denominator == 100 {
            write!(f, "{}%", self.numerator)
        } else {
            write!(f, "{}/{}", self.numerator, self.denominator)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn order_is_exact() {
        let a = Fraction::new(1, 3).unwrap();
        let b = Fraction::new(33, 100).unwrap();
        assert!(a > b);
        assert!(Fraction::new(5, 1000).unwrap() < Fraction::percent(1).unwrap());
        assert_eq!(Fraction::new(3, 2), None);
        assert_eq!(Fraction::new(0, 0), None);
        assert_eq!(Fraction::ONE.threshold(), 1 << 32);
        assert_eq!(Fraction::ZERO.threshold(), 0);
    }
}
