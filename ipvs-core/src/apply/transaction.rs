//! Transactions: requests sent in batches, undone together when the kernel
//! refuses one part-way (all-or-nothing), by planning the touched part of the
//! table back to what it was before.

use std::collections::BTreeSet;

use super::plan::{plan, PlanOptions};
use super::Scope;
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

/// A change the kernel refused, with its place in the plan.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// Index in [`Plan::changes`](super::Plan::changes) (or in the requests of a transaction).
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

/// What a transaction will touch, so that what it replaces can be read
/// before it starts: services (by key, or all for a flush), the timeouts,
/// the sync daemons. Gather it while checking the requests, then
/// [`Handle::begin`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Touches {
    /// Every service (a flush).
    pub all_services: bool,
    /// These services.
    pub services: BTreeSet<ServiceKey>,
    /// The connection timeouts.
    pub timeouts: bool,
    /// The sync daemons.
    pub daemons: bool,
}

impl Touches {
    /// Nothing yet.
    pub fn new() -> Self {
        Touches::default()
    }

    /// What `requests` touch.
    pub fn of(requests: &[Request]) -> Self {
        let mut t = Touches::new();
        for r in requests {
            t.add(r);
        }
        t
    }

    /// Note what `request` touches.
    pub fn add(&mut self, request: &Request) {
        match request {
            Request::Flush => self.all_services = true,
            Request::AddService(s) | Request::EditService(s) => {
                self.services.insert(s.key);
            }
            Request::DeleteService(k)
            | Request::AddDestination(k, _)
            | Request::EditDestination(k, _)
            | Request::DeleteDestination(k, _) => {
                self.services.insert(*k);
            }
            Request::SetTimeouts(_) => self.timeouts = true,
            Request::StartDaemon(_) | Request::StopDaemon(_) => self.daemons = true,
            // Zeroing counters cannot be undone; it is reported as irreversible.
            _ => {}
        }
    }

    fn scope(&self) -> Option<Scope> {
        if self.all_services {
            return Some(Scope::all());
        }
        (!self.services.is_empty())
            .then(|| self.services.iter().copied().fold(Scope::new(), Scope::key))
    }
}

/// Everything a rollback may need to put back: the table of the keys a
/// transaction touches, the timeouts and the sync daemons.
#[derive(Default)]
pub(crate) struct Before {
    pub(crate) table: Option<(Table, Scope)>,
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) daemons: Option<Vec<SyncDaemon>>,
}

/// A transaction in progress on a handle: send requests in as many parts as
/// the caller likes (a restore reads its input in blocks), then
/// [`Transaction::finish`].
#[derive(Debug)]
pub struct Transaction<'h> {
    handle: &'h mut Handle,
    mode: ApplyMode,
    before: Before,
    sent: usize,
    outcome: TransactionOutcome,
}

impl Before {
    /// A rollback to this table inside `scope`.
    pub(crate) fn table(table: Table, scope: Scope) -> Self {
        Before {
            table: Some((table, scope)),
            ..Before::default()
        }
    }
}

impl std::fmt::Debug for Before {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Before")
            .field("services", &self.table.as_ref().map(|(t, _)| t.len()))
            .field("timeouts", &self.timeouts)
            .field("daemons", &self.daemons.as_ref().map(Vec::len))
            .finish()
    }
}

impl Handle {
    /// Start a transaction that will touch `touches`: in
    /// [`ApplyMode::AllOrNothing`] what it will replace is read now.
    pub fn begin(&mut self, touches: &Touches, mode: ApplyMode) -> Result<Transaction<'_>> {
        let mut before = Before::default();
        if mode == ApplyMode::AllOrNothing {
            if let Some(scope) = touches.scope() {
                before.table = Some((self.table()?, scope));
            }
            if touches.timeouts {
                before.timeouts = Some(self.timeouts()?);
            }
            if touches.daemons {
                before.daemons = Some(self.daemons()?);
            }
        }
        Ok(Transaction::new(self, mode, before))
    }

    /// Send `requests` as one transaction: each is checked first (nothing is
    /// sent if one cannot be encoded), then they are sent in batches; in
    /// [`ApplyMode::AllOrNothing`], a refusal part-way undoes every change
    /// made (services, destinations, timeouts, sync daemons), so the table is
    /// as before. Zeroed counters cannot come back and are listed as
    /// irreversible.
    pub fn transaction(
        &mut self,
        requests: Vec<Request>,
        mode: ApplyMode,
    ) -> Result<TransactionOutcome> {
        check_all(&requests)?;
        let mut tx = self.begin(&Touches::of(&requests), mode)?;
        tx.send(requests);
        tx.finish()
    }
}

impl<'h> Transaction<'h> {
    pub(crate) fn new(handle: &'h mut Handle, mode: ApplyMode, before: Before) -> Self {
        Transaction {
            handle,
            mode,
            before,
            sent: 0,
            outcome: TransactionOutcome::default(),
        }
    }

    /// Whether every request sent so far was applied. An all-or-nothing
    /// caller stops sending once this is false.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The handle, for reads between parts (a listing inside a restore).
    /// Changes made through it are not part of the transaction.
    pub fn handle(&mut self) -> &mut Handle {
        self.handle
    }

    /// Send the next part, numbered after the parts before it. An empty
    /// part sends nothing.
    pub fn send(&mut self, requests: Vec<Request>) {
        if requests.is_empty() {
            return;
        }
        let mut batch = self.handle.batch();
        for r in requests {
            batch.push(r);
        }
        let report = batch.execute();
        let offset = self.sent;
        self.sent += report.items.len();
        record(&mut self.outcome, report, offset);
    }

    /// End the transaction: in all-or-nothing mode after a failure, undo
    /// everything (the outcome says whether the undo was complete).
    pub fn finish(mut self) -> Result<TransactionOutcome> {
        if self.outcome.is_ok() || self.mode == ApplyMode::BestEffort {
            return Ok(self.outcome);
        }
        self.outcome.rolled_back = true;
        self.outcome.rollback_failures = roll_back(self.handle, &self.before)?;
        Ok(self.outcome)
    }
}

/// Put back what `before` holds; the undo requests the kernel refused.
fn roll_back(handle: &mut Handle, before: &Before) -> Result<Vec<Failure>> {
    let table = match before.table {
        Some(_) => Some(handle.table()?),
        None => None,
    };
    let daemons = match before.daemons {
        Some(_) => Some(handle.daemons()?),
        None => None,
    };
    let undo = undo_requests(before, table.as_ref(), daemons.as_deref())?;
    if undo.is_empty() {
        return Ok(Vec::new());
    }
    let mut batch = handle.batch();
    for r in undo {
        batch.push(r);
    }
    Ok(outcome_of(batch.execute()).failures)
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
        // Only what the transaction may have touched is planned back.
        let mut was = table.spec();
        was.entries.retain(|e| scope.contains(&e.service.key));
        undo.extend(plan(now, &was, &options)?.requests());
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

/// The outcome of one batch.
pub(crate) fn outcome_of(report: BatchReport) -> TransactionOutcome {
    let mut outcome = TransactionOutcome::default();
    record(&mut outcome, report, 0);
    outcome
}

/// Add a batch's results to `outcome`, its items numbered from `offset`.
fn record(outcome: &mut TransactionOutcome, report: BatchReport, offset: usize) {
    if outcome.aborted.is_none() {
        outcome.aborted = report.aborted;
    }
    for (i, BatchItem { request, result }) in report.items.into_iter().enumerate() {
        let index = offset + i;
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
}
