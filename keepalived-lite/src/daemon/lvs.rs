//! The daemon's hooks for the checker half ([`crate::lvs::Lvs`]).

use super::Daemon;
use crate::state::State;

impl Daemon {
    /// Probe results, due probes, table changes; runs the notifies they ask for.
    pub(super) fn poll_lvs(&mut self) {
        let now = self.now();
        let Some(lvs) = self.lvs.as_mut() else {
            return;
        };
        let before = serde_json::to_value(lvs.virtual_servers()).ok();
        let notifies = lvs.poll(now);
        if serde_json::to_value(lvs.virtual_servers()).ok() != before {
            self.dirty = true;
        }
        for argv in notifies {
            self.run_notify(&argv);
        }
    }

    /// After a reload was committed (`self.config` is the new one). A configuration
    /// that gains its first virtual server starts the checker half; one that loses
    /// them all keeps it with nothing configured (its services removed).
    /// `lvs_sync_daemon` changed by the reload restarts the sync daemons, as the
    /// instances' states are now (a changed or new instance is not MASTER yet).
    pub(super) fn reload_lvs(&mut self) {
        let now = self.now();
        let masters: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.shown_state == State::Master)
            .map(|i| i.cfg.name.clone())
            .collect();
        let notifies = match self.lvs.as_mut() {
            Some(lvs) => {
                lvs.reload_sync(&self.config, &masters);
                lvs.reload(&self.config, now)
            }
            None => match crate::lvs::Lvs::start(&self.config, self.notify_user, now, &self.log) {
                Ok(Some((mut lvs, n))) => {
                    // Started as at start-up (backup daemon); a followed instance
                    // already MASTER gets the master one.
                    for m in &masters {
                        lvs.vrrp_state(m, true);
                    }
                    self.lvs = Some(lvs);
                    n
                }
                Ok(None) => Vec::new(),
                Err(e) => {
                    self.log.log(&format!("cannot start the checkers: {e}"));
                    Vec::new()
                }
            },
        };
        for argv in notifies {
            self.run_notify(&argv);
        }
    }

    /// A VRRP instance entered or left MASTER: `lvs_sync_daemon` follows it.
    pub(super) fn lvs_vrrp_state(&mut self, instance: &str, master: bool) {
        if let Some(lvs) = self.lvs.as_mut() {
            lvs.vrrp_state(instance, master);
        }
    }

    /// At exit: omega notifies, then the services are removed (or the table flushed).
    pub(super) fn stop_lvs(&mut self) {
        let Some(lvs) = self.lvs.as_mut() else {
            return;
        };
        for argv in lvs.stop() {
            self.run_notify(&argv);
        }
    }
}
