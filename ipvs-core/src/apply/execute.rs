//! Applying a plan as a transaction: checked before anything is sent, sent
//! in batches, undone when the kernel refuses a change part-way.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::plan::{plan, Change, Plan, PlanOptions};
use super::{Scope, TableSpec};
use crate::codec::Request;
use crate::error::{Error, Result};
use crate::handle::{BatchItem, BatchReport, Handle, Table};
use crate::model::{DaemonState, ServiceKey, SyncDaemon, Timeouts};

/// What to do when the kernel refuses a change part-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApplyMode {
    /// Undo every change already made, so the table is as before, and
    /// report the change that failed.
    #[default]
    AllOrNothing,
    /// Carry on past failures and report each.
    BestEffort,
}

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

/// A change the kernel refused, with its place in the plan.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// Index in [`Plan::changes`] (or in the requests of a transaction).
    pub index: usize,
    /// The request sent.
    pub request: Request,
    /// What the kernel (or the socket) said.
    pub error: Error,
}

/// What a transaction did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct TransactionOutcome {
    /// Requests acknowledged (before any rollback).
    pub applied: usize,
    /// Requests refused, in order.
    pub failures: Vec<Failure>,
    /// The socket error that stopped the batch, if one did.
    pub aborted: Option<Error>,
    /// Whether changes were undone (all-or-nothing after a failure).
    pub rolled_back: bool,
    /// Undo requests the kernel refused: the table could not be put back
    /// exactly (empty when the rollback was complete).
    pub rollback_failures: Vec<Failure>,
    /// Requests that cannot be undone and were made (zeroing counters).
    pub irreversible: Vec<usize>,
}

impl TransactionOutcome {
    /// Whether every request was applied.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty() && self.aborted.is_none()
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

/// Everything a rollback may need to put back: the table of the keys a
/// transaction touches, the timeouts and the sync daemons.
pub(crate) struct Before {
    pub(crate) table: Option<(Table, Scope)>,
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) daemons: Option<Vec<SyncDaemon>>,
}

/// The scope a list of requests touches (all of it for a flush).
pub(crate) fn touched(requests: &[Request]) -> Option<Scope> {
    let mut keys = BTreeSet::new();
    let mut any = false;
    for r in requests {
        let key = match r {
            Request::Flush => return Some(Scope::all()),
            Request::AddService(s) | Request::EditService(s) => s.key,
            Request::DeleteService(k)
            | Request::AddDestination(k, _)
            | Request::EditDestination(k, _)
            | Request::DeleteDestination(k, _) => *k,
            _ => continue,
        };
        any = true;
        keys.insert(key);
    }
    any.then(|| keys.into_iter().fold(Scope::new(), Scope::key))
}

impl Handle {
    /// Apply a desired table: read the table, plan inside the scope, check
    /// every change, send them (see [`ApplyMode`]). With
    /// [`ApplyOptions::dry_run`] only the plan is returned. Applying the
    /// same desired table twice sends nothing the second time.
    pub fn apply(&mut self, desired: &TableSpec, options: &ApplyOptions) -> Result<ApplyReport> {
        let current = self.table()?;
        let plan = plan(&current, desired, &options.plan)?;
        if options.dry_run || plan.changes.is_empty() {
            return Ok(ApplyReport::new(plan, None));
        }
        let before = Before {
            table: Some((current, options.plan.scope.clone())),
            timeouts: None,
            daemons: None,
        };
        let outcome = self.transact(plan.requests(), options.mode, before)?;
        Ok(ApplyReport::new(plan, Some(outcome)))
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
            let destinations = match self.destinations(key) {
                Ok(d) => d,
                // Deleted by someone else in between: plan it as absent.
                Err(Error::NoSuchService) => continue,
                Err(e) => return Err(e),
            };
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
        let plan = plan(&current, &narrowed, &plan_options)?;
        if options.dry_run || plan.changes.is_empty() {
            return Ok(ApplyReport::new(plan, None));
        }
        let before = Before {
            table: Some((current, plan_options.scope.clone())),
            timeouts: None,
            daemons: None,
        };
        let outcome = self.transact(plan.requests(), options.mode, before)?;
        Ok(ApplyReport::new(plan, Some(outcome)))
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

    /// Send `requests` as one transaction: each is checked first (nothing is
    /// sent if one cannot be encoded), then they are sent in batches; in
    /// [`ApplyMode::AllOrNothing`], a refusal part-way undoes every change
    /// made (services, destinations, timeouts, sync daemons), so the table is
    /// as before. Zeroed counters cannot come back and are listed as
    /// irreversible. This is what `ipvsadm-rs -R` runs.
    pub fn transaction(
        &mut self,
        requests: Vec<Request>,
        mode: ApplyMode,
    ) -> Result<TransactionOutcome> {
        let before = if mode == ApplyMode::AllOrNothing {
            Before {
                table: match touched(&requests) {
                    Some(scope) => Some((self.table()?, scope)),
                    None => None,
                },
                timeouts: match requests
                    .iter()
                    .any(|r| matches!(r, Request::SetTimeouts(_)))
                {
                    true => Some(self.timeouts()?),
                    false => None,
                },
                daemons: match requests
                    .iter()
                    .any(|r| matches!(r, Request::StartDaemon(_) | Request::StopDaemon(_)))
                {
                    true => Some(self.daemons()?),
                    false => None,
                },
            }
        } else {
            Before {
                table: None,
                timeouts: None,
                daemons: None,
            }
        };
        self.transact(requests, mode, before)
    }

    fn transact(
        &mut self,
        requests: Vec<Request>,
        mode: ApplyMode,
        before: Before,
    ) -> Result<TransactionOutcome> {
        check_all(&requests)?;
        let mut batch = self.batch();
        for r in requests {
            batch.push(r);
        }
        let report = batch.execute();
        let mut outcome = outcome_of(report);
        if outcome.is_ok() || mode == ApplyMode::BestEffort {
            return Ok(outcome);
        }
        outcome.rolled_back = true;
        outcome.rollback_failures = self.roll_back(&before)?;
        Ok(outcome)
    }

    /// Put back what `before` holds; the undo requests the kernel refused.
    fn roll_back(&mut self, before: &Before) -> Result<Vec<Failure>> {
        let table = match before.table {
            Some(_) => Some(self.table()?),
            None => None,
        };
        let daemons = match before.daemons {
            Some(_) => Some(self.daemons()?),
            None => None,
        };
        let undo = undo_requests(before, table.as_ref(), daemons.as_deref())?;
        if undo.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = self.batch();
        for r in undo {
            batch.push(r);
        }
        Ok(outcome_of(batch.execute()).failures)
    }
}

/// The requests that put back what `before` holds, given the table and
/// daemons there are now.
pub(crate) fn undo_requests(
    before: &Before,
    table_now: Option<&Table>,
    daemons_now: Option<&[SyncDaemon]>,
) -> Result<Vec<Request>> {
    let mut undo = Vec::new();
    if let (Some((table, scope)), Some(now)) = (&before.table, table_now) {
        let mut options = PlanOptions::new(scope.clone());
        options.graceful = false;
        undo.extend(plan(now, &table.spec(), &options)?.requests());
    }
    if let Some(t) = before.timeouts {
        undo.push(Request::SetTimeouts(t));
    }
    if let (Some(daemons), Some(now)) = (&before.daemons, daemons_now) {
        for state in [DaemonState::Master, DaemonState::Backup] {
            let was = daemons.iter().find(|d| d.state == state);
            let is = now.iter().find(|d| d.state == state);
            if was != is {
                if is.is_some() {
                    undo.push(Request::StopDaemon(state));
                }
                if let Some(d) = was {
                    undo.push(Request::StartDaemon(d.clone()));
                }
            }
        }
    }
    Ok(undo)
}

/// Refuse the whole list if one request cannot be encoded.
pub(crate) fn check_all(requests: &[Request]) -> Result<()> {
    for (i, r) in requests.iter().enumerate() {
        r.to_message().map_err(|e| Error::InvalidArgument {
            what: format!("request {} ({r:?}): {e}", i + 1),
            errno: None,
        })?;
    }
    Ok(())
}

pub(crate) fn outcome_of(report: BatchReport) -> TransactionOutcome {
    let mut outcome = TransactionOutcome {
        aborted: report.aborted,
        ..TransactionOutcome::default()
    };
    for (index, BatchItem { request, result }) in report.items.into_iter().enumerate() {
        match result {
            Ok(()) => {
                outcome.applied += 1;
                if matches!(request, Request::Zero(_)) {
                    outcome.irreversible.push(index);
                }
            }
            Err(error) => outcome.failures.push(Failure {
                index,
                request,
                error,
            }),
        }
    }
    outcome
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
