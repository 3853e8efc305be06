//! Fault knobs: with a fixed seed the same sequence of requests meets the same faults,
//! so a test that sees a fault can be run again and see it again.
//!
//! Every request draws the same four numbers from the seeded stream, whichever knobs
//! are set, so the n-th request's fate depends only on the seed and n.

use std::sync::Mutex;
use std::time::Duration;

use efm_core::entropy::Entropy;

/// What may go wrong, and how often. Probabilities are in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Close the connection without an answer, and without handling the request.
    pub drop: f64,
    /// Handle the request, then close the connection without an answer.
    pub lose_answer: f64,
    /// Store an upload or a sent message twice.
    pub duplicate: f64,
    /// Wait up to this long (uniformly) before handling a request.
    pub max_delay: Duration,
    pub seed: u64,
}

impl FaultPlan {
    /// True when no knob is set: every request is served as asked.
    pub fn is_quiet(&self) -> bool {
        self.drop <= 0.0
            && self.lose_answer <= 0.0
            && self.duplicate <= 0.0
            && self.max_delay.is_zero()
    }
}

/// The fate of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    pub drop: bool,
    pub lose_answer: bool,
    pub duplicate: bool,
    pub delay: Duration,
}

impl Decision {
    /// The knobs that fired, for the request record.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.drop {
            names.push("drop");
        }
        if self.lose_answer {
            names.push("lose-answer");
        }
        if self.duplicate {
            names.push("duplicate");
        }
        if !self.delay.is_zero() {
            names.push("delay");
        }
        names
    }
}

/// A plan and its seeded random stream.
pub struct Faults {
    plan: FaultPlan,
    rng: Mutex<Entropy>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("'{0}' is not a probability (a number from 0 to 1, e.g. 0.25)")]
    NotAProbability(String),
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&plan.seed.to_le_bytes());
        Faults { plan, rng: Mutex::new(Entropy::from_seed(seed)) }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The next request's fate.
    pub fn decide(&self) -> Decision {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let draws = [unit(&mut rng), unit(&mut rng), unit(&mut rng), unit(&mut rng)];
        drop(rng);
        let dropped = draws[0] < self.plan.drop;
        let max_ms = u64::try_from(self.plan.max_delay.as_millis()).unwrap_or(u64::MAX);
        Decision {
            drop: dropped,
            lose_answer: !dropped && draws[1] < self.plan.lose_answer,
            duplicate: !dropped && draws[2] < self.plan.duplicate,
            delay: Duration::from_millis((draws[3] * max_ms as f64) as u64),
        }
    }
}

/// A uniform number in `[0, 1)` from the top 53 bits of the stream.
fn unit(rng: &mut Entropy) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a probability from `0` to `1`.
pub fn probability(s: &str) -> Result<f64, FaultError> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(FaultError::NotAProbability(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(drop: f64, duplicate: f64, seed: u64) -> FaultPlan {
        FaultPlan { drop, duplicate, seed, ..FaultPlan::default() }
    }

    #[test]
    fn same_seed_same_fates_other_seed_other_fates() {
        let fates = |seed| {
            let f = Faults::new(plan(0.5, 0.5, seed));
            (0..64).map(|_| f.decide()).collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
        let a = fates(7);
        let drops = a.iter().filter(|d| d.drop).count();
        assert!((16..=48).contains(&drops), "about half of 64 dropped, got {drops}");
        assert!(a.iter().all(|d| !(d.drop && d.duplicate)), "a dropped request is not handled");
    }

    #[test]
    fn certain_and_impossible_knobs() {
        let never = Faults::new(FaultPlan::default());
        assert!(never.plan().is_quiet());
        assert!((0..100).all(|_| never.decide() == Decision::default()));
        let always = Faults::new(plan(0.0, 1.0, 1));
        assert!((0..100).all(|_| always.decide().duplicate));
        let delayed =
            Faults::new(FaultPlan { max_delay: Duration::from_millis(50), ..plan(0.0, 0.0, 3) });
        let delays: Vec<Duration> = (0..100).map(|_| delayed.decide().delay).collect();
        assert!(delays.iter().all(|d| *d < Duration::from_millis(50)));
        assert!(delays.iter().any(|d| !d.is_zero()));
    }

    #[test]
    fn probabilities_are_checked() {
        assert_eq!(probability("0.25"), Ok(0.25));
        assert_eq!(probability("1"), Ok(1.0));
        assert!(probability("1.5").is_err());
        assert!(probability("-0.1").is_err());
        assert!(probability("NaN").is_err());
        assert!(probability("half").is_err());
    }
}
