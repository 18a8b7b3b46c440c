//! Publishing a plan whose only change is some rules' mirrors (a mirror backend's endpoints
//! or cluster IP moved) without copying or searching the whole plan.
//!
//! - **Where a route's rules sit** ([`RuleIndex`]): the position (route set, parent, rule)
//!   of each rule entry of each route in an assembled plan. Patching only changes mirrors,
//!   never positions, so the index holds until the next assembled plan.
//! - **Two buffers** ([`PlanBuffers`]): the published plan is shared with its readers and
//!   cannot change in place. The plan published before it is kept with the patches it
//!   lacks; when no reader holds it any more, the next patched plan is that one, brought in
//!   step and patched in place — no copy, and no plan dropped per publish. Only when a
//!   reader still holds it is the published plan copied.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::plan::entry_mirrors;
use super::route::RouteInfo;
use crate::model::{MirrorTarget, ObjectKey, Plan, RouteKind, ServicePortRef};

/// A rule entry of a plan and the mirrors it must hold: (route set id, parent index, rule
/// index, mirrors).
pub(super) type MirrorPatch = (u32, usize, usize, Vec<MirrorTarget>);

/// Position of one rule entry: (route set id, parent index, rule index).
type Position = (u32, usize, usize);

/// The positions of every route's rule entries in a plan.
#[derive(Debug, Default)]
pub(super) struct RuleIndex(BTreeMap<(RouteKind, ObjectKey), Vec<Position>>);

impl RuleIndex {
    /// The index of `plan`.
    pub(super) fn of(plan: &Plan) -> Self {
        let mut index: BTreeMap<(RouteKind, ObjectKey), Vec<Position>> = BTreeMap::new();
        for (id, set) in &plan.route_sets {
            for (pi, parent) in set.parents.iter().enumerate() {
                for (ri, entry) in parent.rules.iter().enumerate() {
                    index
                        .entry((entry.id.kind, entry.id.route.clone()))
                        .or_default()
                        .push((*id, pi, ri));
                }
            }
        }
        Self(index)
    }

    /// The positions of route `key`'s rule entries.
    fn of_route(&self, kind: RouteKind, key: &ObjectKey) -> &[Position] {
        self.0.get(&(kind, key.clone())).map_or(&[], Vec::as_slice)
    }
}

/// What to change in `plan`'s rules of `route` to bring their mirrors in step with `route`,
/// whose analysis changed at most in its mirrors' addresses
/// ([`RouteInfo::same_but_mirror_addresses`]): everything else a plan holds is the same
/// then. Entries whose mirrors are already right are left out. `index` is `plan`'s.
pub(super) fn mirror_patches(
    plan: &Plan,
    index: &RuleIndex,
    route: &RouteInfo,
    out: &mut Vec<MirrorPatch>,
) {
    for &(id, pi, ri) in index.of_route(route.kind, &route.key) {
        let Some(set) = plan.route_sets.get(&id) else {
            continue;
        };
        let Some(entry) = set.parents.get(pi).and_then(|p| p.rules.get(ri)) else {
            continue;
        };
        let Some(rule) = route.rules.iter().find(|r| r.id == entry.id) else {
            continue;
        };
        let backends: BTreeSet<ServicePortRef> = set.backends.iter().cloned().collect();
        let mirrors = entry_mirrors(route.labelled, rule, entry.delivery, &backends);
        if mirrors != entry.mirrors {
            out.push((id, pi, ri, mirrors));
        }
    }
}

/// Applies [`mirror_patches`] to `plan`.
fn apply(plan: &mut Plan, patches: &[MirrorPatch]) {
    for (id, pi, ri, mirrors) in patches {
        if let Some(entry) = plan
            .route_sets
            .get_mut(id)
            .and_then(|s| s.parents.get_mut(*pi))
            .and_then(|p| p.rules.get_mut(*ri))
        {
            entry.mirrors.clone_from(mirrors);
        }
    }
}

/// The published plan, and the one published before it when only patches separate them.
#[derive(Debug, Default)]
pub(super) struct PlanBuffers {
    last: Option<Arc<Plan>>,
    /// The plan before `last` and the patches that make it `last` (only when `last` was
    /// patched from it).
    spare: Option<(Arc<Plan>, Vec<MirrorPatch>)>,
    /// Positions of the rule entries of `last` (and of `spare`: patches move nothing);
    /// built when first needed after an assembled plan.
    index: Option<RuleIndex>,
    /// Plans copied because a reader still held the spare one (for tests and logs).
    copies: usize,
}

impl PlanBuffers {
    /// The published plan.
    pub(super) fn last(&self) -> Option<&Arc<Plan>> {
        self.last.as_ref()
    }

    /// A newly assembled plan is published: nothing of the last one is reused.
    pub(super) fn assembled(&mut self, plan: Arc<Plan>) {
        self.last = Some(plan);
        self.spare = None;
        self.index = None;
    }

    /// The patches that bring the published plan's rules of `routes` in step with their
    /// analyses (none when there is no published plan).
    pub(super) fn patches<'a>(
        &mut self,
        routes: impl IntoIterator<Item = &'a RouteInfo>,
    ) -> Vec<MirrorPatch> {
        let mut out = Vec::new();
        let Some(last) = self.last.as_deref() else {
            return out;
        };
        let index = self.index.get_or_insert_with(|| RuleIndex::of(last));
        for route in routes {
            mirror_patches(last, index, route, &mut out);
        }
        out
    }

    /// Publishes the published plan with `patches` applied: the spare plan brought in step
    /// and patched in place when no reader holds it any more, else a copy. Returns the
    /// new plan (none when there is no published plan).
    pub(super) fn publish_patched(&mut self, patches: Vec<MirrorPatch>) -> Option<Arc<Plan>> {
        let last = self.last.take()?;
        let reused = self.spare.take().and_then(|(mut spare, lag)| {
            let plan = Arc::get_mut(&mut spare)?;
            apply(plan, &lag);
            Some(spare)
        });
        let mut next = reused.unwrap_or_else(|| {
            self.copies += 1;
            Arc::new((*last).clone())
        });
        // `next` is this planner's alone (the spare no reader held, or a new copy): this
        // changes it in place.
        apply(Arc::make_mut(&mut next), &patches);
        self.spare = Some((last, patches));
        self.last = Some(next.clone());
        Some(next)
    }

    /// Plans copied so far because a reader still held the spare plan.
    pub(super) fn copies(&self) -> usize {
        self.copies
    }
}
