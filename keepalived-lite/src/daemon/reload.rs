//! `SIGHUP`: applying a new configuration all-or-nothing.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Daemon;
use crate::config;
use crate::diff::{same_global, same_instance, same_script};
use crate::instance::{open_instance, remove_stale_vips, InstanceRt};
use crate::scripts::{check_notify_security, script_rt, ScriptRt};
use crate::state::Input;
use crate::users::resolve_script_user;

impl Daemon {
    /// SIGHUP: re-reads the configuration. Unchanged instances keep their state and
    /// VIPs; removed or changed ones resign; new ones start. A bad file, an unknown
    /// user, a refused script or an instance that cannot be opened (e.g. its interface
    /// does not exist) changes nothing.
    pub(super) fn reload(&mut self) {
        self.log.log("Reloading configuration");
        let new = match config::parse_file(&self.opts.config) {
            Ok(c) => c,
            Err(e) => {
                self.log.log(&format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
                return;
            }
        };
        let notify_user = match resolve_script_user(&new.global) {
            Ok(u) => u,
            Err(e) => {
                self.log.log(&format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
                return;
            }
        };
        let now = self.now();
        let mut scripts = HashMap::new();
        for s in &new.scripts {
            match self.scripts.get(&s.name) {
                Some(old)
                    if same_script(&old.cfg, s)
                        && same_global(&new.global, &self.config.global) => {}
                _ => match script_rt(s, &new.global, &self.log) {
                    Ok(Some(rt)) => {
                        scripts.insert(s.name.clone(), rt);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.log.log(&format!(
                            "reload failed, keeping the running configuration: {e}"
                        ));
                        return;
                    }
                },
            }
        }
        if let Err(e) = check_notify_security(&new) {
            self.log.log(&format!(
                "reload failed, keeping the running configuration: {e}"
            ));
            return;
        }
        // Changed and new instances are opened (interfaces, addresses, sockets) while the
        // old ones still run: if one cannot be opened, nothing changes and the running
        // instances keep their state and VIPs. The addresses the running instances hold
        // are no candidates for a new instance's source address.
        let kept: Vec<bool> = self
            .instances
            .iter()
            .map(|o| new.instances.iter().any(|i| same_instance(&o.cfg, i)))
            .collect();
        let held: Vec<IpAddr> = self
            .instances
            .iter()
            .flat_map(|o| o.cfg.vips.iter().map(|v| v.addr))
            .collect();
        let mut opened = Vec::new();
        for i in &new.instances {
            let unchanged = self
                .instances
                .iter()
                .zip(&kept)
                .any(|(o, k)| *k && same_instance(&o.cfg, i));
            if unchanged {
                continue;
            }
            match open_instance(&mut self.rtnl, i, &held) {
                Ok(rt) => opened.push(rt),
                Err(e) => {
                    self.log.log(&format!(
                        "reload failed, keeping the running configuration: {e}"
                    ));
                    return;
                }
            }
        }
        // From here on the new configuration is applied. Instances removed or changed
        // resign first (priority 0, VIPs removed), so a changed one restarting on the
        // same VIPs starts clean.
        // A replaced or removed script's run in progress is killed (with its process
        // group) and reaped; its result no longer counts.
        for (name, rt) in scripts {
            if let Some(old) = self.scripts.insert(name.clone(), rt) {
                self.discard_script(&name, old);
            }
            self.schedule.script_added(&name, now);
        }
        let removed: Vec<String> = self
            .scripts
            .keys()
            .filter(|n| !new.scripts.iter().any(|s| &s.name == *n))
            .cloned()
            .collect();
        for name in removed {
            if let Some(old) = self.scripts.remove(&name) {
                self.discard_script(&name, old);
            }
        }
        for (idx, keep) in kept.iter().enumerate() {
            if !keep {
                self.feed(idx, Input::Shutdown);
                let name = self.instances[idx].cfg.name.clone();
                self.schedule.instance_removed(&name);
            }
        }
        let old = std::mem::take(&mut self.instances);
        let mut kept: Vec<InstanceRt> = old
            .into_iter()
            .zip(kept)
            .filter(|(_, keep)| *keep)
            .map(|(rt, _)| rt)
            .collect();
        for rt in &opened {
            if let Err(e) = remove_stale_vips(&mut self.rtnl, rt, &self.log) {
                self.log.log(&format!("({}) {e}", rt.cfg.name));
            }
        }
        let first_new = kept.len();
        kept.extend(opened);
        self.instances = kept;
        for w in &new.warnings {
            self.log.log(w);
        }
        self.config = new;
        self.notify_user = notify_user;
        for idx in 0..self.instances.len() {
            self.update_tracking(idx, true);
            if idx >= first_new {
                self.feed(idx, Input::Startup);
            }
        }
        self.write_state();
    }

    /// Stops a script that a reload replaced or removed: its running check is killed.
    fn discard_script(&mut self, name: &str, old: ScriptRt) {
        if let Some(pid) = old.running {
            self.children.kill(pid);
        }
        self.schedule.script_removed(name);
    }
}
