//! The store's journal: what changed, in order, so a planner that saw an earlier version of
//! the same store revisits only what reads a changed object.
//!
//! Every [`Store::put`](super::Store::put) and [`Store::remove`](super::Store::remove)
//! records a [`Touched`] entry with a new epoch. The journal keeps the most recent
//! [`JOURNAL_CAPACITY`] entries; a reader whose last epoch is older than that, or that saw
//! another store (a clone starts a new lineage, since two clones can diverge), must look at
//! everything again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use super::keys::ObjectKey;

/// Entries kept (older ones are forgotten; their readers look at everything). A planner
/// reads the journal after every debounced change, so it needs the changes of one debounce
/// window (a few at 50 changes/s); a larger burst (a relist) is planned from scratch anyway.
/// About 100 bytes each.
pub const JOURNAL_CAPACITY: usize = 1024;

/// What a change touched, in the terms planning reads objects by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Touched {
    /// An HTTPRoute.
    HttpRoute(ObjectKey),
    /// A GRPCRoute.
    GrpcRoute(ObjectKey),
    /// A Gateway.
    Gateway(ObjectKey),
    /// A Service.
    Service(ObjectKey),
    /// An EndpointSlice of this Service.
    SlicesOf(ObjectKey),
    /// A ReferenceGrant of this namespace.
    GrantsIn(String),
    /// A Pod.
    Pod(ObjectKey),
    /// A Namespace.
    Namespace(String),
}

/// Lineages handed out so far (a new store or a clone takes the next).
static LINEAGES: AtomicU64 = AtomicU64::new(1);

fn next_lineage() -> u64 {
    LINEAGES.fetch_add(1, Ordering::Relaxed)
}

/// A position in a store's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalMark {
    lineage: u64,
    epoch: u64,
}

/// The recent changes of one store.
#[derive(Debug)]
pub struct Journal {
    lineage: u64,
    epoch: u64,
    recent: VecDeque<(u64, Touched)>,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            lineage: next_lineage(),
            epoch: 0,
            recent: VecDeque::new(),
        }
    }
}

/// A clone is another store from now on: a new lineage, no history.
impl Clone for Journal {
    fn clone(&self) -> Self {
        Self {
            lineage: next_lineage(),
            epoch: self.epoch,
            recent: VecDeque::new(),
        }
    }
}

impl Journal {
    /// Records a change.
    pub fn record(&mut self, touched: Touched) {
        self.epoch += 1;
        if self.recent.len() == JOURNAL_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back((self.epoch, touched));
    }

    /// Records a change, if it touched anything.
    pub fn record_some(&mut self, touched: Option<Touched>) {
        if let Some(t) = touched {
            self.record(t);
        }
    }

    /// Now.
    pub fn mark(&self) -> JournalMark {
        JournalMark {
            lineage: self.lineage,
            epoch: self.epoch,
        }
    }

    /// What changed since `mark`, if the journal still knows (`None`: another store, or
    /// changes forgotten since: look at everything).
    pub fn since(&self, mark: JournalMark) -> Option<impl Iterator<Item = &Touched>> {
        if mark.lineage != self.lineage || mark.epoch > self.epoch {
            return None;
        }
        let missing = self.epoch - mark.epoch;
        if missing > self.recent.len() as u64 {
            return None;
        }
        let skip = self.recent.len() - missing as usize;
        Some(self.recent.iter().skip(skip).map(|(_, t)| t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(n: u32) -> Touched {
        Touched::Service(ObjectKey::new("ns", format!("s{n}")))
    }

    #[test]
    fn changes_since_a_mark() {
        let mut j = Journal::default();
        j.record(svc(0));
        let m = j.mark();
        assert_eq!(j.since(m).map(Iterator::count), Some(0));
        j.record(svc(1));
        j.record(svc(2));
        let seen: Vec<&Touched> = j.since(m).expect("known changes").collect();
        assert_eq!(seen, [&svc(1), &svc(2)]);
    }

    #[test]
    fn a_clone_or_a_forgotten_change_means_everything() {
        let mut j = Journal::default();
        let m = j.mark();
        let c = j.clone();
        assert!(c.since(m).is_none(), "another lineage");
        for i in 0..=JOURNAL_CAPACITY as u32 {
            j.record(svc(i));
        }
        assert!(j.since(m).is_none(), "the first change was forgotten");
        let recent = j.mark();
        j.record(svc(0));
        assert_eq!(j.since(recent).map(Iterator::count), Some(1));
    }
}
