//! The daemon's hook for `--metrics` ([`crate::metrics`]): a snapshot of its state
//! handed to the metrics thread whenever the state file is written.

use super::Daemon;
use crate::metrics::{checker_metrics, instance_metrics, script_metrics, SharedSnapshot, Snapshot};

impl Daemon {
    /// Serves this daemon's state to `shared`'s readers from now on.
    pub fn publish_metrics_to(&mut self, shared: SharedSnapshot) {
        self.metrics = Some(shared);
        self.publish_metrics();
    }

    /// Hands the current state over without waiting: when a scrape holds the lock
    /// at this instant, the state is marked changed, so the next state write (at
    /// most 100 ms later) tries again.
    pub(super) fn publish_metrics(&mut self) {
        let Some(shared) = &self.metrics else {
            return;
        };
        let snapshot = Snapshot {
            instances: self
                .instances
                .iter()
                .map(|i| {
                    instance_metrics(&i.cfg, i.machine.state(), i.machine.priority(), &i.counters)
                })
                .collect(),
            scripts: script_metrics(&self.scripts),
            virtual_servers: self
                .lvs
                .as_ref()
                .map(|l| checker_metrics(l.virtual_servers()))
                .unwrap_or_default(),
        };
        if shared.publish(snapshot).is_err() {
            self.dirty = true;
        }
    }
}
