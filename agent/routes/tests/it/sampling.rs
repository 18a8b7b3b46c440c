use shadowtap_common::SAMPLE_ALL;
use shadowtap_routes::{Fraction, Sampler};

/// Draws `n` times with probability `p/q` and checks the count is within 3 binomial σ of
/// `n · min(1, p/q)`.
fn check(seed: u64, n: u64, p: Fraction, threshold: u64) {
    let mut s = Sampler::new(seed);
    let hits = (0..n).filter(|_| s.sample(p, threshold)).count() as f64;
    let q = threshold as f64 / SAMPLE_ALL as f64;
    let p_f64 = f64::from(p.numerator) / f64::from(p.denominator);
    let prob = (p_f64 / q).min(1.0);
    let mean = n as f64 * prob;
    let sigma = (n as f64 * prob * (1.0 - prob)).sqrt();
    assert!(
        (hits - mean).abs() <= 3.0 * sigma,
        "p={p} q={q} n={n}: {hits} hits, expected {mean} ± {}",
        3.0 * sigma
    );
}

#[test]
fn rates_within_three_sigma() {
    let fractions = [
        Fraction::percent(42).unwrap(),
        Fraction::percent(20).unwrap(),
        Fraction::percent(50).unwrap(),
        Fraction::new(5, 1000).unwrap(),
        Fraction::new(25, 50).unwrap(),
        Fraction::percent(35).unwrap(),
    ];
    for (i, p) in fractions.into_iter().enumerate() {
        for n in [500, 100_000] {
            check(1000 + i as u64, n, p, SAMPLE_ALL);
        }
    }
}

#[test]
fn conditional_on_flow_pre_sample() {
    // q = 1/2 (kernel captured half the flows): 20 % overall means 40 % of captured requests.
    let half = Fraction::new(1, 2).unwrap().threshold();
    for n in [500, 100_000] {
        check(7, n, Fraction::percent(20).unwrap(), half);
    }
    // q = 42 %, p = 42 %: every captured request is mirrored.
    let q = Fraction::percent(42).unwrap().threshold();
    let mut s = Sampler::new(3);
    assert!((0..100_000).all(|_| s.sample(Fraction::percent(42).unwrap(), q)));
    // q = 1 % (threshold of the endpoint's largest mirror) and p = 0.5 %: half.
    check(
        9,
        100_000,
        Fraction::new(5, 1000).unwrap(),
        Fraction::percent(1).unwrap().threshold(),
    );
}

#[test]
fn zero_never_one_always() {
    let mut s = Sampler::new(42);
    assert!((0..100_000).all(|_| !s.sample(Fraction::percent(0).unwrap(), SAMPLE_ALL)));
    assert!((0..100_000).all(|_| s.sample(Fraction::percent(100).unwrap(), SAMPLE_ALL)));
    assert!((0..1000).all(|_| !s.sample(Fraction::new(0, 1000).unwrap(), 1)));
}

#[test]
fn several_mirrors_draw_independently() {
    let p = Fraction::new(1, 2).unwrap();
    let mut s = Sampler::new(11);
    let n = 100_000;
    let mut both = 0u32;
    for _ in 0..n {
        let a = s.sample(p, SAMPLE_ALL);
        let b = s.sample(p, SAMPLE_ALL);
        if a && b {
            both += 1;
        }
    }
    // P(both) = 1/4 if independent.
    let sigma = (n as f64 * 0.25 * 0.75).sqrt();
    assert!(
        (f64::from(both) - n as f64 * 0.25).abs() < 3.0 * sigma,
        "{both}"
    );
}

#[test]
fn seeds_reproduce() {
    let p = Fraction::percent(42).unwrap();
    let draw = |seed| {
        let mut s = Sampler::new(seed);
        (0..64).map(|_| s.sample(p, SAMPLE_ALL)).collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}
