//! `SIGHUP`: applying a new configuration all-or-nothing.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};

use super::Daemon;
use crate::config::{self, Config, ConfigError};
use crate::diff::{same_global, same_instance, same_script};
use crate::error::DaemonError;
use crate::instance::{open_instance, remove_stale_vips, InstanceRt};
use crate::scripts::{check_notify_security, script_rt, ScriptRt};
use crate::state::Input;
use crate::users::resolve_script_user;

/// A configuration being read and parsed on a thread of its own: however slow the file
/// (a hung network file system, a large include), adverts and signals go on. The
/// thread wakes the poll loop through a socket pair when it is done; if the daemon
/// exits first, the thread ends with the process.
#[derive(Debug)]
pub(super) struct ConfigRead {
    path: PathBuf,
    wake: UnixStream,
    result: Receiver<Result<Config, ConfigError>>,
}

impl ConfigRead {
    fn start(path: PathBuf) -> std::io::Result<Self> {
        let (wake, done) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let (tx, result) = std::sync::mpsc::channel();
        let file = path.clone();
        std::thread::Builder::new()
            .name("config-read".into())
            .spawn(move || {
                let _ = tx.send(config::parse_file(&file));
                let _ = (&done).write_all(&[1]);
            })?;
        Ok(ConfigRead { path, wake, result })
    }

    /// The descriptor that becomes readable when the read is done.
    pub(super) fn raw_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The result, once there is one.
    fn take(&self) -> Option<Result<Config, ConfigError>> {
        match self.result.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            // The thread died without a result (it cannot panic on input, but still).
            Err(TryRecvError::Disconnected) => Some(Err(ConfigError {
                file: self.path.clone(),
                line: 0,
                message: "configuration reader ended without a result".into(),
            })),
        }
    }
}

/// A new configuration checked completely (users, scripts, changed and new instances
/// opened), ready to replace the running one.
struct Prepared {
    config: Config,
    notify_user: Option<(u32, u32)>,
    /// Scripts unchanged by the reload: they keep running.
    unchanged_scripts: HashSet<String>,
    /// New or changed scripts (a disabled one, whose program is missing, is absent).
    new_scripts: HashMap<String, ScriptRt>,
    /// For each running instance: whether it is unchanged.
    kept: Vec<bool>,
    /// New and changed instances, opened.
    opened: Vec<InstanceRt>,
}

impl Daemon {
    /// SIGHUP: starts reading the configuration on a thread of its own (a second
    /// SIGHUP meanwhile reads it again afterwards); [`Daemon::finish_reload`] applies it.
    pub(super) fn start_reload(&mut self) {
        if self.reading.is_some() {
            self.reload_again = true;
            return;
        }
        self.log.log("Reloading configuration");
        match ConfigRead::start(self.opts.config.clone()) {
            Ok(r) => self.reading = Some(r),
            Err(e) => self.log.log(&format!(
                "reload failed, keeping the running configuration: cannot start reading: {e}"
            )),
        }
    }

    /// The configuration read has ended: applies it. Unchanged instances keep their
    /// state and VIPs; removed or changed ones resign; new ones start. A bad file, an
    /// unknown user, a refused script or an instance that cannot be opened (e.g. its
    /// interface does not exist) changes nothing.
    pub(super) fn finish_reload(&mut self) {
        let Some(read) = self.reading.as_ref().and_then(|r| r.take()) else {
            return;
        };
        self.reading = None;
        match read
            .map_err(DaemonError::from)
            .and_then(|c| self.prepare_reload(c))
        {
            Ok(p) => self.commit_reload(p),
            Err(e) => self.log.log(&format!(
                "reload failed, keeping the running configuration: {e}"
            )),
        }
        if std::mem::take(&mut self.reload_again) {
            self.start_reload();
        }
    }

    /// Everything else that can fail, done while the old configuration still runs.
    fn prepare_reload(&mut self, config: Config) -> Result<Prepared, DaemonError> {
        let notify_user = resolve_script_user(&config.global)?;
        let mut unchanged_scripts = HashSet::new();
        let mut new_scripts = HashMap::new();
        for s in &config.scripts {
            match self.scripts.get(&s.name) {
                // A changed global_defs may change the user: the script starts anew.
                Some(old)
                    if same_script(&old.cfg, s)
                        && same_global(&config.global, &self.config.global) =>
                {
                    unchanged_scripts.insert(s.name.clone());
                }
                _ => {
                    if let Some(rt) = script_rt(s, &config.global, &self.log)? {
                        new_scripts.insert(s.name.clone(), rt);
                    }
                }
            }
        }
        check_notify_security(&config)?;
        crate::lvs::check(&config)?;
        // Changed and new instances are opened (interfaces, addresses, sockets) while the
        // old ones still run. The addresses the running instances hold are no
        // candidates for a new instance's source address.
        let kept: Vec<bool> = self
            .instances
            .iter()
            .map(|o| config.instances.iter().any(|i| same_instance(&o.cfg, i)))
            .collect();
        let held: Vec<IpAddr> = self
            .instances
            .iter()
            .flat_map(|o| o.cfg.vips.iter().map(|v| v.addr))
            .collect();
        let mut opened = Vec::new();
        for i in &config.instances {
            let unchanged = self
                .instances
                .iter()
                .zip(&kept)
                .any(|(o, k)| *k && same_instance(&o.cfg, i));
            if !unchanged {
                opened.push(open_instance(&mut self.rtnl, i, &held)?);
            }
        }
        Ok(Prepared {
            config,
            notify_user,
            unchanged_scripts,
            new_scripts,
            kept,
            opened,
        })
    }

    /// Applies a prepared reload. Instances removed or changed resign first (priority
    /// 0, VIPs removed), so a changed one restarting on the same VIPs starts clean. A
    /// replaced or removed script's run in progress is killed with its process group
    /// and reaped; its result no longer counts.
    fn commit_reload(&mut self, p: Prepared) {
        let now = self.now();
        let gone: Vec<String> = self
            .scripts
            .keys()
            .filter(|n| !p.unchanged_scripts.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(old) = self.scripts.remove(&name) {
                if let Some(pid) = old.running {
                    self.children.kill(pid);
                }
                self.schedule.script_removed(&name);
            }
        }
        for (name, rt) in p.new_scripts {
            self.schedule.script_added(&name, now);
            self.scripts.insert(name, rt);
        }
        for (idx, keep) in p.kept.iter().enumerate() {
            if !keep {
                self.feed(idx, Input::Shutdown);
                let name = self.instances[idx].cfg.name.clone();
                self.schedule.instance_removed(&name);
            }
        }
        let old = std::mem::take(&mut self.instances);
        let mut instances: Vec<InstanceRt> = old
            .into_iter()
            .zip(p.kept)
            .filter(|(_, keep)| *keep)
            .map(|(rt, _)| rt)
            .collect();
        for rt in &p.opened {
            if let Err(e) = remove_stale_vips(&mut self.rtnl, rt, &self.log) {
                self.log.log(&format!("({}) {e}", rt.cfg.name));
            }
        }
        let first_new = instances.len();
        instances.extend(p.opened);
        self.instances = instances;
        for w in &p.config.warnings {
            self.log.log(w);
        }
        self.config = p.config;
        self.notify_user = p.notify_user;
        self.reload_lvs();
        for idx in 0..self.instances.len() {
            self.update_tracking(idx, true);
            if idx >= first_new {
                self.feed(idx, Input::Startup);
            }
        }
        self.write_state();
    }
}
