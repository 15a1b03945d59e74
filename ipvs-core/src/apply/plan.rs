//! The planner: the ordered changes that turn the kernel's table into the
//! desired one. Pure: no socket, no clock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Scope, TableSpec};
use crate::codec::Request;
use crate::error::PlanError;
use crate::handle::{Table, TableEntry};
use crate::model::{Destination, DestinationSpec, Protocol, Service, ServiceKey, ServiceSpec};

/// One change of a [`Plan`], with what it replaces, so it can be shown
/// and sent ([`Change::request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A service that is not there yet.
    AddService {
        /// Its settings.
        service: ServiceSpec,
    },
    /// A service whose settings change in place.
    EditService {
        /// What the kernel has.
        from: ServiceSpec,
        /// What it will have.
        to: ServiceSpec,
    },
    /// A destination that is not there yet.
    AddDestination {
        /// Its service.
        service: ServiceKey,
        /// Its settings.
        destination: DestinationSpec,
    },
    /// A destination whose settings change in place.
    EditDestination {
        /// Its service.
        service: ServiceKey,
        /// What the kernel has.
        from: DestinationSpec,
        /// What it will have.
        to: DestinationSpec,
    },
    /// A TCP destination that goes but still holds connections: weight 0,
    /// so new connections go elsewhere while existing ones finish.
    DrainDestination {
        /// Its service.
        service: ServiceKey,
        /// What the kernel has (the weight it had before draining).
        from: DestinationSpec,
        /// Active connections when planned.
        active: u32,
        /// Inactive connections when planned.
        inactive: u32,
    },
    /// A destination that goes.
    DeleteDestination {
        /// Its service.
        service: ServiceKey,
        /// What the kernel had.
        destination: DestinationSpec,
    },
    /// A service that goes, with the destinations it had.
    DeleteService {
        /// What the kernel had.
        service: ServiceSpec,
        /// Its destinations.
        destinations: Vec<DestinationSpec>,
    },
}

impl Change {
    /// The request that makes this change.
    pub fn request(&self) -> Request {
        match self {
            Change::AddService { service } => Request::AddService(Service::from(service.clone())),
            Change::EditService { to, .. } => Request::EditService(Service::from(to.clone())),
            Change::AddDestination {
                service,
                destination,
            } => Request::AddDestination(*service, Destination::from(*destination)),
            Change::EditDestination { service, to, .. } => {
                Request::EditDestination(*service, Destination::from(*to))
            }
            Change::DrainDestination { service, from, .. } => {
                Request::EditDestination(*service, Destination::from(*from).weight(0))
            }
            Change::DeleteDestination {
                service,
                destination,
            } => Request::DeleteDestination(*service, destination.socket_addr()),
            Change::DeleteService { service, .. } => Request::DeleteService(service.key),
        }
    }

    /// The service the change is about.
    pub fn service_key(&self) -> ServiceKey {
        match self {
            Change::AddService { service } | Change::DeleteService { service, .. } => service.key,
            Change::EditService { to, .. } => to.key,
            Change::AddDestination { service, .. }
            | Change::EditDestination { service, .. }
            | Change::DrainDestination { service, .. }
            | Change::DeleteDestination { service, .. } => *service,
        }
    }
}

impl fmt::Display for Change {
    /// One line for people: `add service TCP 192.0.2.1:80 wrr`,
    /// `edit destination TCP 192.0.2.1:80 -> 198.51.100.2:80: weight 1 -> 3`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddService { service } => {
                write!(f, "add service {} {}", service.key, service.scheduler)
            }
            Change::EditService { from, to } => {
                write!(f, "edit service {}:", to.key)?;
                if from.scheduler != to.scheduler {
                    write!(f, " scheduler {} -> {}", from.scheduler, to.scheduler)?;
                }
                if from.flags != to.flags {
                    write!(f, " flags {:#x} -> {:#x}", from.flags.bits(), to.flags.bits())?;
                }
                if from.timeout != to.timeout {
                    write!(f, " timeout {} -> {}", from.timeout, to.timeout)?;
                }
                if from.netmask != to.netmask {
                    write!(f, " netmask {} -> {}", from.netmask, to.netmask)?;
                }
                if from.pe_name != to.pe_name {
                    write!(f, " pe {:?} -> {:?}", from.pe_name, to.pe_name)?;
                }
                Ok(())
            }
            Change::AddDestination {
                service,
                destination,
            } => write!(
                f,
                "add destination {service} -> {} {} weight {}",
                destination.socket_addr(),
                destination.forward,
                destination.weight
            ),
            Change::EditDestination { service, from, to } => {
                write!(f, "edit destination {service} -> {}:", to.socket_addr())?;
                if from.weight != to.weight {
                    write!(f, " weight {} -> {}", from.weight, to.weight)?;
                }
                if from.forward != to.forward {
                    write!(f, " forward {} -> {}", from.forward, to.forward)?;
                }
                if (from.upper_threshold, from.lower_threshold)
                    != (to.upper_threshold, to.lower_threshold)
                {
                    write!(
                        f,
                        " thresholds {}/{} -> {}/{}",
                        from.upper_threshold,
                        from.lower_threshold,
                        to.upper_threshold,
                        to.lower_threshold
                    )?;
                }
                if (from.tunnel_type, from.tunnel_port, from.tunnel_checksum)
                    != (to.tunnel_type, to.tunnel_port, to.tunnel_checksum)
                {
                    write!(f, " tunnel settings")?;
                }
                Ok(())
            }
            Change::DrainDestination {
                service,
                from,
                active,
                inactive,
            } => write!(
                f,
                "drain destination {service} -> {}: weight {} -> 0 ({active} active, {inactive} inactive connections)",
                from.socket_addr(),
                from.weight
            ),
            Change::DeleteDestination {
                service,
                destination,
            } => write!(
                f,
                "delete destination {service} -> {}",
                destination.socket_addr()
            ),
            Change::DeleteService {
                service,
                destinations,
            } => write!(
                f,
                "delete service {} ({} destinations)",
                service.key,
                destinations.len()
            ),
        }
    }
}

/// How to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanOptions {
    /// The services the plan may touch.
    pub scope: Scope,
    /// Drain TCP destinations that go (weight 0 until they hold no
    /// connection) instead of deleting them at once.
    pub graceful: bool,
    /// Draining destinations whose drain time is over: deleted now, whatever
    /// connections they hold. A [`Syncer`](super::Syncer) fills this.
    pub expired: HashSet<(ServiceKey, SocketAddr)>,
}

impl PlanOptions {
    /// Graceful planning in `scope`.
    pub fn new(scope: Scope) -> Self {
        PlanOptions {
            scope,
            graceful: true,
            expired: HashSet::new(),
        }
    }
}

/// The ordered changes that turn the current table into the desired one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// The changes, in the order they are sent.
    pub changes: Vec<Change>,
    /// Destinations that go but still drain (weight already 0, connections
    /// left): nothing is sent for them in this pass.
    pub draining: Vec<(ServiceKey, SocketAddr)>,
}

impl Plan {
    /// Whether nothing is to be sent and nothing drains.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.draining.is_empty()
    }

    /// The requests, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.changes.iter().map(Change::request).collect()
    }
}

impl fmt::Display for Plan {
    /// One line per change, then one per destination still draining.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for (service, dest) in &self.draining {
            writeln!(f, "still draining {service} -> {dest}")?;
        }
        Ok(())
    }
}

/// Whether destinations of this service drain before they go. TCP ends its
/// connections, so waiting for zero ends; UDP "connections" are flows that
/// only time out (300 s by default) and SCTP associations are kept alive by
/// heartbeats, so waiting would keep clients on a server that is going: those
/// are deleted at once, as kube-proxy does for UDP. A firewall-mark service
/// may carry TCP, so it drains.
fn drains(key: &ServiceKey) -> bool {
    match key {
        ServiceKey::Addr { protocol, .. } => *protocol == Protocol::Tcp,
        ServiceKey::FwMark { .. } => true,
    }
}

/// The changes that turn `current` into `desired` inside `options.scope`:
/// add or edit services; add or edit destinations; drain, then delete,
/// destinations that go; delete services that go. Nothing both tables keep
/// alike is touched, and nothing outside the scope.
pub fn plan(
    current: &Table,
    desired: &TableSpec,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut seen = BTreeSet::new();
    for entry in &desired.entries {
        let key = entry.service.key;
        if !options.scope.contains(&key) {
            return Err(PlanError::OutOfScope(key));
        }
        if !seen.insert(key) {
            return Err(PlanError::DuplicateService(key));
        }
        let mut dests = HashSet::new();
        for d in &entry.destinations {
            if !dests.insert(d.socket_addr()) {
                return Err(PlanError::DuplicateDestination(key, d.socket_addr()));
            }
        }
    }
    let owned: HashMap<ServiceKey, &TableEntry> = current
        .entries
        .iter()
        .filter(|e| options.scope.contains(&e.service.key))
        .map(|e| (e.service.key, e))
        .collect();

    let mut services = Vec::new();
    let mut destinations = Vec::new();
    let mut drains_now = Vec::new();
    let mut deletes = Vec::new();
    let mut draining = Vec::new();
    for entry in &desired.entries {
        let key = entry.service.key;
        let have = owned.get(&key);
        match have {
            None => services.push(Change::AddService {
                service: entry.service.clone(),
            }),
            Some(cur) if cur.service.spec() != entry.service => {
                services.push(Change::EditService {
                    from: cur.service.spec(),
                    to: entry.service.clone(),
                })
            }
            Some(_) => {}
        }
        let have_dests: HashMap<SocketAddr, &Destination> = have
            .map(|cur| {
                cur.destinations
                    .iter()
                    .map(|d| (d.socket_addr(), d))
                    .collect()
            })
            .unwrap_or_default();
        for want in &entry.destinations {
            match have_dests.get(&want.socket_addr()) {
                None => destinations.push(Change::AddDestination {
                    service: key,
                    destination: *want,
                }),
                Some(d) if d.spec() != *want => destinations.push(Change::EditDestination {
                    service: key,
                    from: d.spec(),
                    to: *want,
                }),
                Some(_) => {}
            }
        }
        let Some(cur) = have else { continue };
        let wanted: HashSet<SocketAddr> =
            entry.destinations.iter().map(|d| d.socket_addr()).collect();
        for d in cur
            .destinations
            .iter()
            .filter(|d| !wanted.contains(&d.socket_addr()))
        {
            let addr = d.socket_addr();
            let connections = d.active_conns + d.inactive_conns;
            let wait = options.graceful
                && drains(&key)
                && connections > 0
                && !options.expired.contains(&(key, addr));
            if !wait {
                deletes.push(Change::DeleteDestination {
                    service: key,
                    destination: d.spec(),
                });
            } else if d.weight != 0 {
                drains_now.push(Change::DrainDestination {
                    service: key,
                    from: d.spec(),
                    active: d.active_conns,
                    inactive: d.inactive_conns,
                });
                draining.push((key, addr));
            } else {
                draining.push((key, addr));
            }
        }
    }
    let mut gone: Vec<&TableEntry> = current
        .entries
        .iter()
        .filter(|e| owned.contains_key(&e.service.key) && !seen.contains(&e.service.key))
        .collect();
    // Deleted in the kernel's order, so a plan is the same every time.
    gone.sort_by_key(|e| e.service.key);
    let removals = gone.into_iter().map(|e| Change::DeleteService {
        service: e.service.spec(),
        destinations: e.destinations.iter().map(Destination::spec).collect(),
    });
    let mut changes = services;
    changes.extend(destinations);
    changes.extend(drains_now);
    changes.extend(deletes);
    changes.extend(removals);
    // A drain that was already planned is reported once, in `changes`.
    draining.retain(|k| {
        !changes.iter().any(|c| {
            matches!(c, Change::DrainDestination { service, from, .. } if (*service, from.socket_addr()) == *k)
        })
    });
    Ok(Plan { changes, draining })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddressFamily, ForwardMethod, Scheduler, ServiceFlags};

    fn tcp(s: &str) -> ServiceKey {
        ServiceKey::tcp(s.parse().unwrap())
    }

    fn dest(s: &str, weight: u32) -> Destination {
        Destination::new(s.parse().unwrap(), ForwardMethod::Masquerade).weight(weight)
    }

    /// A kernel table: services as the kernel reports them (HASHED, counters).
    fn kernel(entries: Vec<(Service, Vec<Destination>)>) -> Table {
        Table::new(
            entries
                .into_iter()
                .map(|(s, d)| TableEntry::new(s.flags(ServiceFlags::HASHED), d))
                .collect(),
        )
    }

    fn desired(entries: Vec<(Service, Vec<Destination>)>) -> TableSpec {
        let mut t = TableSpec::new();
        for (s, d) in entries {
            t.push(s.spec(), d.iter().map(Destination::spec).collect());
        }
        t
    }

    fn all() -> PlanOptions {
        PlanOptions::new(Scope::all())
    }

    #[test]
    fn equal_tables_plan_nothing_whatever_the_counters() {
        let svc = Service::new(tcp("192.0.2.1:80"), Scheduler::Wrr);
        let mut busy = dest("198.51.100.2:80", 3).connections(12, 40, 0);
        busy.stats.conns = 999;
        let current = kernel(vec![(svc.clone(), vec![busy])]);
        let want = desired(vec![(svc, vec![dest("198.51.100.2:80", 3)])]);
        assert!(plan(&current, &want, &all()).unwrap().is_empty());
        // The table's own spec plans nothing either.
        assert!(plan(&current, &current.spec(), &all()).unwrap().is_empty());
    }

    #[test]
    fn changes_come_in_order_and_edit_in_place() {
        let a = tcp("192.0.2.1:80");
        let b = tcp("192.0.2.2:80");
        let c = tcp("192.0.2.3:80");
        let current = kernel(vec![
            (
                Service::new(a, Scheduler::Rr),
                vec![
                    dest("198.51.100.1:80", 1),
                    dest("198.51.100.2:80", 1),
                    dest("198.51.100.3:80", 1).connections(2, 0, 0),
                ],
            ),
            (
                Service::new(c, Scheduler::Rr),
                vec![dest("198.51.100.9:80", 1)],
            ),
        ]);
        let want = desired(vec![
            (
                Service::new(a, Scheduler::Wlc),
                vec![dest("198.51.100.1:80", 1), dest("198.51.100.4:80", 2)],
            ),
            (
                Service::new(b, Scheduler::Rr),
                vec![dest("198.51.100.5:80", 1)],
            ),
        ]);
        let p = plan(&current, &want, &all()).unwrap();
        let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "edit service TCP 192.0.2.1:80: scheduler rr -> wlc",
                "add service TCP 192.0.2.2:80 rr",
                "add destination TCP 192.0.2.1:80 -> 198.51.100.4:80 masquerade weight 2",
                "add destination TCP 192.0.2.2:80 -> 198.51.100.5:80 masquerade weight 1",
                "drain destination TCP 192.0.2.1:80 -> 198.51.100.3:80: weight 1 -> 0 (2 active, 0 inactive connections)",
                "delete destination TCP 192.0.2.1:80 -> 198.51.100.2:80",
                "delete service TCP 192.0.2.3:80 (1 destinations)",
            ]
        );
        assert!(p.draining.is_empty());
        // Weight, thresholds and forwarding method are edited in place.
        let current = kernel(vec![(
            Service::new(a, Scheduler::Rr),
            vec![dest("198.51.100.1:80", 0)],
        )]);
        let routed = Destination::new(
            "198.51.100.1:80".parse().unwrap(),
            ForwardMethod::DirectRoute,
        )
        .weight(5)
        .thresholds(100, 10);
        let p = plan(
            &current,
            &desired(vec![(Service::new(a, Scheduler::Rr), vec![routed])]),
            &all(),
        )
        .unwrap();
        assert_eq!(
            p.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            ["edit destination TCP 192.0.2.1:80 -> 198.51.100.1:80: weight 0 -> 5 forward masquerade -> route thresholds 0/0 -> 100/10"]
        );
    }

    #[test]
    fn scope_keeps_other_programs_services() {
        let ours = tcp("192.0.2.1:80");
        let theirs = tcp("198.51.100.100:80");
        let mark = ServiceKey::fwmark(7, AddressFamily::Inet);
        let current = kernel(vec![
            (
                Service::new(theirs, Scheduler::Rr),
                vec![dest("203.0.113.1:80", 1)],
            ),
            (Service::new(mark, Scheduler::Rr), vec![]),
            (Service::new(ours, Scheduler::Rr), vec![]),
        ]);
        let scope = Scope::new().cidr("192.0.2.0".parse().unwrap(), 24);
        // An empty desired table in the scope deletes only ours.
        let p = plan(
            &current,
            &TableSpec::new(),
            &PlanOptions::new(scope.clone()),
        )
        .unwrap();
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].service_key(), ours);
        // A desired service outside the scope is refused before anything is planned.
        let want = desired(vec![(Service::new(theirs, Scheduler::Wrr), vec![])]);
        assert_eq!(
            plan(&current, &want, &PlanOptions::new(scope)),
            Err(PlanError::OutOfScope(theirs))
        );
    }

    #[test]
    fn drain_rules_follow_the_protocol_and_the_clock() {
        let web = tcp("192.0.2.1:80");
        let dns = ServiceKey::udp("192.0.2.1:53".parse().unwrap());
        let busy = |s: &str, w: u32| dest(s, w).connections(0, 3, 0);
        let current = kernel(vec![
            (
                Service::new(web, Scheduler::Rr),
                vec![
                    busy("198.51.100.1:80", 1),
                    busy("198.51.100.2:80", 0),
                    dest("198.51.100.3:80", 1),
                ],
            ),
            (
                Service::new(dns, Scheduler::Rr),
                vec![busy("198.51.100.1:53", 1)],
            ),
        ]);
        let want = desired(vec![
            (Service::new(web, Scheduler::Rr), vec![]),
            (Service::new(dns, Scheduler::Rr), vec![]),
        ]);
        let p = plan(&current, &want, &all()).unwrap();
        let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "drain destination TCP 192.0.2.1:80 -> 198.51.100.1:80: weight 1 -> 0 (0 active, 3 inactive connections)",
                "delete destination TCP 192.0.2.1:80 -> 198.51.100.3:80",
                "delete destination UDP 192.0.2.1:53 -> 198.51.100.1:53",
            ]
        );
        assert_eq!(p.draining, vec![(web, "198.51.100.2:80".parse().unwrap())]);
        // Once its drain time is over, a draining destination is deleted.
        let mut options = all();
        options
            .expired
            .insert((web, "198.51.100.2:80".parse().unwrap()));
        let p = plan(&current, &want, &options).unwrap();
        assert!(p
            .changes
            .iter()
            .any(|c| c.to_string() == "delete destination TCP 192.0.2.1:80 -> 198.51.100.2:80"));
        assert!(p.draining.is_empty());
        // Without graceful draining everything that goes is deleted at once.
        let mut options = all();
        options.graceful = false;
        let p = plan(&current, &want, &options).unwrap();
        assert_eq!(p.changes.len(), 4);
        assert!(p
            .changes
            .iter()
            .all(|c| matches!(c, Change::DeleteDestination { .. })));
        // A destination that comes back while draining gets its weight back.
        let back = desired(vec![(
            Service::new(web, Scheduler::Rr),
            vec![dest("198.51.100.2:80", 4)],
        )]);
        let p = plan(&current, &back, &all()).unwrap();
        assert_eq!(
            p.changes[0].to_string(),
            "edit destination TCP 192.0.2.1:80 -> 198.51.100.2:80: weight 0 -> 4"
        );
    }

    #[test]
    fn a_drain_sends_weight_zero_and_keeps_the_rest() {
        let a = tcp("192.0.2.1:80");
        let from = dest("198.51.100.1:80", 2).thresholds(9, 3).spec();
        assert_eq!(
            Change::DrainDestination {
                service: a,
                from,
                active: 1,
                inactive: 0
            }
            .request(),
            Request::EditDestination(a, Destination::from(from).weight(0))
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let a = tcp("192.0.2.1:80");
        let twice = desired(vec![
            (Service::new(a, Scheduler::Rr), vec![]),
            (Service::new(a, Scheduler::Rr), vec![]),
        ]);
        assert_eq!(
            plan(&Table::default(), &twice, &all()),
            Err(PlanError::DuplicateService(a))
        );
        let d = dest("198.51.100.1:80", 1);
        let twice = desired(vec![(Service::new(a, Scheduler::Rr), vec![d.clone(), d])]);
        assert!(matches!(
            plan(&Table::default(), &twice, &all()),
            Err(PlanError::DuplicateDestination(..))
        ));
    }
}
