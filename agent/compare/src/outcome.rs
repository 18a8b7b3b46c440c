//! How a mirrored pair ends: one outcome each, named as the per-route metric labels them.

use serde::Serialize;

use crate::counters::Counter;

/// The end of one mirrored request's pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Both responses agree on everything the route compares.
    Same,
    /// The status classes (1xx–5xx) differ.
    StatusClassDiffers,
    /// The statuses differ within one class.
    StatusDiffers,
    /// A compared header field differs.
    HeadersDiffer,
    /// The bodies' lengths or hashes differ.
    BodyDiffers,
    /// The mirror gave no response (connection, timeout or framing failure).
    MirrorFailed,
    /// The primary's response was not seen whole.
    PrimaryUnseen,
    /// A side had not answered within the pair timeout.
    PairTimeout,
    /// Dropped to keep pending pairs within their byte budget.
    OverBudget,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: &'static [Outcome] = &[
        Outcome::Same,
        Outcome::StatusClassDiffers,
        Outcome::StatusDiffers,
        Outcome::HeadersDiffer,
        Outcome::BodyDiffers,
        Outcome::MirrorFailed,
        Outcome::PrimaryUnseen,
        Outcome::PairTimeout,
        Outcome::OverBudget,
    ];

    /// The metric label.
    pub const fn name(self) -> &'static str {
        self.counter().name()
    }

    /// Whether both responses were compared.
    pub const fn compared(self) -> bool {
        matches!(
            self,
            Outcome::Same
                | Outcome::StatusClassDiffers
                | Outcome::StatusDiffers
                | Outcome::HeadersDiffer
                | Outcome::BodyDiffers
        )
    }

    /// Whether the responses were compared and differ.
    pub const fn diverges(self) -> bool {
        self.compared() && !matches!(self, Outcome::Same)
    }

    /// The counter of this outcome.
    pub const fn counter(self) -> Counter {
        match self {
            Outcome::Same => Counter::OutcomeSame,
            Outcome::StatusClassDiffers => Counter::OutcomeStatusClassDiffers,
            Outcome::StatusDiffers => Counter::OutcomeStatusDiffers,
            Outcome::HeadersDiffer => Counter::OutcomeHeadersDiffer,
            Outcome::BodyDiffers => Counter::OutcomeBodyDiffers,
            Outcome::MirrorFailed => Counter::OutcomeMirrorFailed,
            Outcome::PrimaryUnseen => Counter::OutcomePrimaryUnseen,
            Outcome::PairTimeout => Counter::OutcomePairTimeout,
            Outcome::OverBudget => Counter::OutcomeOverBudget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::PAIR_OUTCOMES;

    #[test]
    fn labels_match_the_issue_and_the_counters() {
        let names: Vec<_> = Outcome::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "same",
                "status_class_differs",
                "status_differs",
                "headers_differ",
                "body_differs",
                "mirror_failed",
                "primary_unseen",
                "pair_timeout",
                "over_budget"
            ]
        );
        let counters: Vec<_> = Outcome::ALL.iter().map(|o| o.counter()).collect();
        assert_eq!(counters, PAIR_OUTCOMES);
        for o in Outcome::ALL {
            assert_eq!(
                serde_json::to_string(o).expect("serialises"),
                format!("\"{}\"", o.name())
            );
        }
    }
}
