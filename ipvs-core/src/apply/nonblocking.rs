//! Apply on the async handle (feature `tokio`): the same planner, checks and
//! rollback as the blocking one.

use super::transaction::{check_all, outcome_of, undo_requests, Before};
use super::{plan, ApplyMode, ApplyOptions, ApplyReport, TableSpec};
use crate::error::Result;
use crate::handle::AsyncHandle;

impl AsyncHandle {
    /// Apply a desired table, as [`Handle::apply`](super::Handle::apply):
    /// plan inside the scope, check, send in batches, and undo everything
    /// when the kernel refuses a change part-way (all-or-nothing mode).
    pub async fn apply(
        &mut self,
        desired: &TableSpec,
        options: &ApplyOptions,
    ) -> Result<ApplyReport> {
        let current = self.table().await?;
        let plan = plan(&current, desired, &options.plan)?;
        if options.dry_run || plan.changes.is_empty() {
            return Ok(ApplyReport::new(plan, None));
        }
        let requests = plan.requests();
        check_all(&requests)?;
        let mut outcome = outcome_of(self.batch(requests).await);
        if !outcome.is_ok() && options.mode == ApplyMode::AllOrNothing {
            let before = Before::table(current, options.plan.scope.clone());
            let now = self.table().await?;
            let undo = undo_requests(&before, Some(&now), None)?;
            outcome.rolled_back = true;
            outcome.rollback_failures = outcome_of(self.batch(undo).await).failures;
        }
        Ok(ApplyReport::new(plan, Some(outcome)))
    }
}
