//! Applying a plan as a transaction: checked before anything is sent, sent
//! in batches, undone when the kernel refuses a change part-way.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::plan::{plan, Change, Plan, PlanOptions};
use super::transaction::{check_all, ApplyMode, Before, Transaction, TransactionOutcome};
use super::{Scope, TableSpec};
use crate::error::{Error, Result};
use crate::handle::{Handle, Table};
use crate::model::ServiceKey;

/// How to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Scope, graceful draining and expired drains.
    pub plan: PlanOptions,
    /// All-or-nothing or best effort.
    pub mode: ApplyMode,
    /// Plan only: send nothing.
    pub dry_run: bool,
    /// How long a TCP destination that goes may drain before it is deleted
    /// with connections left.
    pub drain_timeout: Duration,
}

impl ApplyOptions {
    /// All-or-nothing, graceful, a 60 s drain timeout, in `scope`.
    pub fn new(scope: Scope) -> Self {
        ApplyOptions {
            plan: PlanOptions::new(scope),
            mode: ApplyMode::AllOrNothing,
            dry_run: false,
            drain_timeout: Duration::from_secs(60),
        }
    }

    /// Choose the mode.
    pub fn mode(mut self, mode: ApplyMode) -> Self {
        self.mode = mode;
        self
    }

    /// Plan only.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Set the drain timeout.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Drain TCP destinations that go (the default) or delete them at once.
    pub fn graceful(mut self, graceful: bool) -> Self {
        self.plan.graceful = graceful;
        self
    }
}

/// What an apply did: the plan, and (unless it was a dry run or there was
/// nothing to send) what happened to it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ApplyReport {
    /// The changes planned.
    pub plan: Plan,
    /// What the kernel said; `None` when nothing was sent.
    pub outcome: Option<TransactionOutcome>,
}

impl ApplyReport {
    pub(crate) fn new(plan: Plan, outcome: Option<TransactionOutcome>) -> Self {
        ApplyReport { plan, outcome }
    }

    /// Whether the table is now as desired (draining aside).
    pub fn is_ok(&self) -> bool {
        self.outcome.as_ref().is_none_or(TransactionOutcome::is_ok)
    }

    /// The first change that failed, with its error.
    pub fn first_failure(&self) -> Option<(&Change, &Error)> {
        let outcome = self.outcome.as_ref()?;
        let f = outcome.failures.first()?;
        Some((self.plan.changes.get(f.index)?, &f.error))
    }
}

impl Handle {
    /// Apply a desired table: read the table, plan inside the scope, check
    /// every change, send them (see [`ApplyMode`]). With
    /// [`ApplyOptions::dry_run`] only the plan is returned. Applying the
    /// same desired table twice sends nothing the second time.
    pub fn apply(&mut self, desired: &TableSpec, options: &ApplyOptions) -> Result<ApplyReport> {
        let current = self.table()?;
        self.plan_and_send(current, desired, &options.plan, options)
    }

    /// Apply the difference between two desired tables, reading from the
    /// kernel only the services whose desired entry changed (a GET_SERVICE
    /// and one destination dump each) instead of the whole table: what a
    /// controller that owns its scope and remembers its last desired table
    /// needs on every pass. Services whose desired entry did not change are
    /// trusted to be as the last pass left them; run [`Handle::apply`] now
    /// and then to repair drift made by others.
    pub fn apply_delta(
        &mut self,
        previous: &TableSpec,
        desired: &TableSpec,
        options: &ApplyOptions,
    ) -> Result<ApplyReport> {
        if let Some(e) = desired
            .entries
            .iter()
            .find(|e| !options.plan.scope.contains(&e.service.key))
        {
            return Err(super::PlanError::OutOfScope(e.service.key).into());
        }
        let old: HashMap<ServiceKey, &super::EntrySpec> = previous
            .entries
            .iter()
            .map(|e| (e.service.key, e))
            .collect();
        let mut keys: BTreeSet<ServiceKey> = desired
            .entries
            .iter()
            .filter(|e| old.get(&e.service.key).is_none_or(|o| *o != *e))
            .map(|e| e.service.key)
            .collect();
        let wanted: BTreeSet<ServiceKey> = desired.entries.iter().map(|e| e.service.key).collect();
        keys.extend(old.keys().filter(|k| !wanted.contains(k)));
        keys.retain(|k| options.plan.scope.contains(k));
        let mut entries = Vec::with_capacity(keys.len());
        for key in &keys {
            let service = match self.service(key) {
                Ok(s) => s,
                Err(Error::NoSuchService) => continue,
                Err(e) => return Err(e),
            };
            // Deleted by someone else in between: no destinations, and the
            // plan adds it back.
            let destinations = self.destinations_or_empty(key)?;
            entries.push(crate::handle::TableEntry::new(service, destinations));
        }
        let current = Table::new(entries);
        let narrowed = TableSpec {
            entries: desired
                .entries
                .iter()
                .filter(|e| keys.contains(&e.service.key))
                .cloned()
                .collect(),
        };
        let mut plan_options = options.plan.clone();
        plan_options.scope = keys.iter().copied().fold(Scope::new(), Scope::key);
        self.plan_and_send(current, &narrowed, &plan_options, options)
    }

    /// Plan `current` towards `desired`; unless it is a dry run or there is
    /// nothing to do, check, send and (all-or-nothing, on failure) undo the
    /// changes, planning back to `current` inside the plan's scope.
    fn plan_and_send(
        &mut self,
        current: Table,
        desired: &TableSpec,
        plan_options: &PlanOptions,
        options: &ApplyOptions,
    ) -> Result<ApplyReport> {
        let plan = plan(&current, desired, plan_options)?;
        if options.dry_run || plan.changes.is_empty() {
            return Ok(ApplyReport::new(plan, None));
        }
        let requests = plan.requests();
        check_all(&requests)?;
        let before = Before::table(current, plan_options.scope.clone());
        let mut tx = Transaction::new(self, options.mode, before);
        tx.send(requests);
        Ok(ApplyReport::new(plan, Some(tx.finish()?)))
    }

    /// Apply, then keep applying once a second while TCP destinations drain,
    /// until none is left (deleted once empty, or after the drain timeout).
    /// Returns the report of every pass.
    pub fn apply_and_drain(
        &mut self,
        desired: &TableSpec,
        options: &ApplyOptions,
    ) -> Result<Vec<ApplyReport>> {
        let mut syncer = Syncer::new(options.clone());
        let mut passes = Vec::new();
        loop {
            let report = syncer.sync(self, desired)?;
            let draining = !report.plan.draining.is_empty()
                || report
                    .plan
                    .changes
                    .iter()
                    .any(|c| matches!(c, Change::DrainDestination { .. }));
            let failed = !report.is_ok();
            passes.push(report);
            if !draining || failed || options.dry_run {
                return Ok(passes);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// A sync loop's memory between passes: when each draining destination
/// began to drain, so one that drains longer than the drain timeout is
/// deleted with its connections.
#[derive(Debug)]
pub struct Syncer {
    options: ApplyOptions,
    draining_since: HashMap<(ServiceKey, SocketAddr), Instant>,
}

impl Syncer {
    /// A syncer applying with `options`.
    pub fn new(options: ApplyOptions) -> Self {
        Syncer {
            options,
            draining_since: HashMap::new(),
        }
    }

    /// One pass: apply `desired` now.
    pub fn sync(&mut self, handle: &mut Handle, desired: &TableSpec) -> Result<ApplyReport> {
        self.sync_at(handle, desired, Instant::now())
    }

    /// One pass at the time `now` (for callers with their own clock).
    pub fn sync_at(
        &mut self,
        handle: &mut Handle,
        desired: &TableSpec,
        now: Instant,
    ) -> Result<ApplyReport> {
        let mut options = self.options.clone();
        options.plan.expired = self.expired(now);
        let report = handle.apply(desired, &options)?;
        self.note(&report.plan, now);
        Ok(report)
    }

    /// The drains whose time is over at `now`.
    pub fn expired(&self, now: Instant) -> std::collections::HashSet<(ServiceKey, SocketAddr)> {
        self.draining_since
            .iter()
            .filter(|(_, since)| {
                now.saturating_duration_since(**since) >= self.options.drain_timeout
            })
            .map(|(k, _)| *k)
            .collect()
    }

    /// Remember when each destination of `plan` began to drain, and forget
    /// those that no longer drain.
    pub fn note(&mut self, plan: &Plan, now: Instant) {
        let mut still = std::collections::HashSet::new();
        for c in &plan.changes {
            if let Change::DrainDestination { service, from, .. } = c {
                still.insert((*service, from.socket_addr()));
            }
        }
        still.extend(plan.draining.iter().copied());
        self.draining_since.retain(|k, _| still.contains(k));
        for k in still {
            self.draining_since.entry(k).or_insert(now);
        }
    }
}
