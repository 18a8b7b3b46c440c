//! The name of a problem's Event, the same on every agent and in every version.
//!
//! Every agent derives the name from what identifies a problem — the route (namespace, name,
//! uid, generation), the field and the reason — so an Event that another agent (a former
//! leader, or a second agent that briefly believed it led) already created makes the
//! creation fail with `AlreadyExists`: the API server itself keeps one Event per problem, with
//! no list of Events to read (and no RBAC to grant for it).
//!
//! The hash is FNV-1a 64 over explicitly laid-out bytes (never `std::hash::Hash`, whose
//! output may change between Rust versions), so agents of different versions during a
//! rolling upgrade agree.

use std::hash::Hasher as _;

use fnv::FnvHasher;

use crate::model::ProblemReason;

/// Longest object name the API server accepts (a DNS subdomain).
const MAX_NAME: usize = 253;
/// `.` and 16 hex digits.
const SUFFIX_LEN: usize = 17;

/// What identifies one problem of one route.
#[derive(Clone, Copy, Debug)]
pub struct ProblemIdentity<'a> {
    /// Route namespace.
    pub namespace: &'a str,
    /// Route name.
    pub name: &'a str,
    /// Route uid (a re-created route is a new route).
    pub uid: &'a str,
    /// Route `metadata.generation` (a problem still present after an edit is reported for
    /// the edited route).
    pub generation: i64,
    /// Field path inside the route.
    pub field: &'a str,
    /// Reason.
    pub reason: ProblemReason,
}

impl ProblemIdentity<'_> {
    /// `<route name>.<16 hex digits>`: a valid Event name of at most 253 characters.
    pub fn event_name(&self) -> String {
        let mut h = FnvHasher::default();
        for part in [self.namespace, self.name, self.uid] {
            h.write(part.as_bytes());
            h.write(&[0]);
        }
        h.write(&self.generation.to_le_bytes());
        h.write(self.field.as_bytes());
        h.write(&[0]);
        h.write(self.reason.as_str().as_bytes());
        let mut prefix: &str = self.name;
        if prefix.len() > MAX_NAME - SUFFIX_LEN {
            // Names are DNS subdomains (ASCII), so any byte index is a char boundary; stay
            // safe for anything else all the same.
            let mut cut = MAX_NAME - SUFFIX_LEN;
            while !prefix.is_char_boundary(cut) {
                cut -= 1;
            }
            prefix = &prefix[..cut];
        }
        let prefix = prefix.trim_end_matches(['-', '.']);
        format!("{prefix}.{:016x}", h.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ProblemIdentity<'static> {
        ProblemIdentity {
            namespace: "default",
            name: "foo-route",
            uid: "4f1c2a9e-0000-4000-8000-000000000001",
            generation: 3,
            field: "spec.rules[0].filters[0].requestMirror.percent",
            reason: ProblemReason::PercentOutOfRange,
        }
    }

    /// The name is part of the cluster's state: agents of another version must compute the
    /// same one (the value is FNV-1a 64 of the bytes laid out above, checked against an
    /// independent implementation). A change here re-publishes every problem once.
    #[test]
    fn the_name_is_stable_across_versions() {
        assert_eq!(id().event_name(), "foo-route.f0e14d652774ff97");
    }

    #[test]
    fn every_part_of_the_identity_changes_the_name() {
        let base = id().event_name();
        let variants = [
            ProblemIdentity {
                namespace: "other",
                ..id()
            },
            ProblemIdentity {
                uid: "4f1c2a9e-0000-4000-8000-000000000002",
                ..id()
            },
            ProblemIdentity {
                generation: 4,
                ..id()
            },
            ProblemIdentity {
                field: "spec.rules[1].filters[0].requestMirror.percent",
                ..id()
            },
            ProblemIdentity {
                reason: ProblemReason::PercentAndFraction,
                ..id()
            },
        ];
        for v in variants {
            assert_ne!(v.event_name(), base, "{v:?}");
        }
        // Field and reason are delimited: moving bytes between them changes the name.
        let a = ProblemIdentity {
            field: "ab",
            ..id()
        };
        let b = ProblemIdentity { field: "a", ..id() };
        assert_ne!(a.event_name(), b.event_name());
    }

    #[test]
    fn long_route_names_give_valid_event_names() {
        let long = format!("{}-{}", "a".repeat(240), "b".repeat(12));
        assert_eq!(long.len(), 253);
        let name = ProblemIdentity {
            name: &long,
            ..id()
        }
        .event_name();
        assert!(name.len() <= MAX_NAME, "{}", name.len());
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
        assert!(!name.contains("-."), "{name}");
        // A cut that ends on a dash is trimmed.
        let dashed = format!("{}-{}", "a".repeat(235), "b".repeat(17));
        let name = ProblemIdentity {
            name: &dashed,
            ..id()
        }
        .event_name();
        assert!(
            name.starts_with(&"a".repeat(235)) && !name.contains("-."),
            "{name}"
        );
    }
}
