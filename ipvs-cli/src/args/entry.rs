//! The state ipvsadm builds while reading options (its
//! `ipvs_command_entry`), and what each option does to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipvs_core::{
    AddressFamily, DaemonState, ForwardMethod, Protocol, ServiceFlags, Timeouts, TunnelType,
};

use super::{
    opt, Command, Failure, Format, Output, DEFAULT_PERSISTENT_TIMEOUT, MAX_TIMEOUT, OPT_NAMES,
};
use crate::addr;
use crate::options::Tag;
use crate::popt::Occurrence;

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub cmd: Option<Command>,
    pub options: u64,
    pub format: Format,
    // Service.
    pub svc_family: Option<AddressFamily>,
    pub protocol: Option<Protocol>,
    pub svc_addr: Option<IpAddr>,
    pub svc_port: u16,
    pub fwmark: u32,
    pub sched_name: String,
    pub flags: u32,
    pub timeout: u32,
    /// An IPv4 mask as a host-order number, or an IPv6 prefix length.
    pub netmask: u32,
    pub pe_name: String,
    pub sched_flags_arg: String,
    // Destination.
    pub dest_addr: Option<IpAddr>,
    pub dest_port: u16,
    pub forward: ForwardMethod,
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: TunnelType,
    pub tun_port: u16,
    pub tun_flags: u16,
    // --set
    pub timeouts: Timeouts,
    // Daemon.
    pub daemon_state: Option<DaemonState>,
    pub mcast_ifn: String,
    pub syncid: u32,
    pub sync_maxlen: u16,
    pub mcast_group: Option<IpAddr>,
    pub mcast_port: u16,
    pub mcast_ttl: u8,
    // Extensions.
    pub output: Output,
    pub lossless: bool,
    pub info: bool,
    pub ext_options: Vec<&'static str>,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            cmd: None,
            options: 0,
            format: Format::default(),
            svc_family: None,
            protocol: None,
            svc_addr: None,
            svc_port: 0,
            fwmark: 0,
            sched_name: String::new(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: String::new(),
            sched_flags_arg: String::new(),
            dest_addr: None,
            dest_port: 0,
            forward: ForwardMethod::DirectRoute,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunnelType::Ipip,
            tun_port: 0,
            tun_flags: 0,
            timeouts: Timeouts::default(),
            daemon_state: None,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
            output: Output::Text,
            lossless: false,
            info: false,
            ext_options: Vec::new(),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    // strncpy into a fixed buffer: at most `max` bytes survive.
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A persistence or `--set` timeout; `None` is `-p` without a value.
pub(super) fn parse_timeout(arg: Option<&str>, min: i64, max: i64) -> Result<u32, Failure> {
    match arg {
        None => Ok(DEFAULT_PERSISTENT_TIMEOUT),
        Some(a) => addr::string_to_number(a, min, max)
            .map(|n| n as u32)
            .ok_or_else(|| Failure::fail(format!("invalid timeout value `{a}' specified"))),
    }
}

/// ipvsadm's `string_to_number` in `min..=max`, or `message`.
fn number(arg: &str, min: i64, max: i64, message: &str) -> Result<i64, Failure> {
    addr::string_to_number(arg, min, max).ok_or_else(|| Failure::fail(message))
}

fn parse_tun_type(arg: &str) -> Option<TunnelType> {
    match arg {
        "ipip" => Some(TunnelType::Ipip),
        "gue" => Some(TunnelType::Gue),
        "gre" => Some(TunnelType::Gre),
        _ => None,
    }
}

fn inet_pton4(s: &str) -> Option<Ipv4Addr> {
    // inet_pton accepts exactly four decimal parts, like Rust's parser.
    s.parse().ok()
}

impl Entry {
    /// Records an ipvsadm option bit; a second use is ipvsadm's error.
    pub fn set_option(&mut self, bit: u32) -> Result<(), Failure> {
        if self.options & (1 << bit) != 0 {
            return Err(Failure::fail(format!(
                "multiple '{}' options specified",
                OPT_NAMES[bit as usize]
            )));
        }
        self.options |= 1 << bit;
        Ok(())
    }

    /// Whether an ipvsadm option bit was given.
    pub fn has(&self, bit: u32) -> bool {
        self.options & (1 << bit) != 0
    }

    fn set_ext(&mut self, name: &'static str) -> Result<(), Failure> {
        if self.ext_options.contains(&name) {
            return Err(Failure::fail(format!(
                "multiple '{name}' options specified"
            )));
        }
        self.ext_options.push(name);
        Ok(())
    }

    /// Applies one option that follows the command.
    pub fn apply(&mut self, o: &Occurrence<Tag>) -> Result<(), Failure> {
        let arg = o.arg.as_deref().unwrap_or_default();
        match o.tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::Fwmark | Tag::Ipv6 => self.service(o.tag, arg),
            Tag::Scheduler
            | Tag::Persistent
            | Tag::Netmask
            | Tag::Ops
            | Tag::Pe
            | Tag::SchedFlags => self.service_setting(o.tag, o.arg.as_deref()),
            Tag::RealServer
            | Tag::Ipip
            | Tag::Gate
            | Tag::Masq
            | Tag::Weight
            | Tag::UThreshold
            | Tag::LThreshold => self.destination(o.tag, arg),
            Tag::TunType | Tag::TunPort | Tag::TunNoCsum | Tag::TunCsum | Tag::TunRemCsum => {
                self.tunnel(o.tag, arg)
            }
            Tag::McastInterface
            | Tag::SyncId
            | Tag::McastGroup
            | Tag::McastPort
            | Tag::McastTtl
            | Tag::SyncMaxlen => self.daemon(o.tag, arg),
            Tag::Numeric
            | Tag::Connection
            | Tag::Timeout
            | Tag::Daemon
            | Tag::Stats
            | Tag::Rate
            | Tag::Thresholds
            | Tag::PersistentConn
            | Tag::NoSort
            | Tag::Sort
            | Tag::Exact
            | Tag::TunInfo => self.listing(o.tag),
            Tag::Json | Tag::Table | Tag::Lossless | Tag::Info => self.extension(o.tag),
            Tag::Cmd(_)
            | Tag::Help
            | Tag::Version
            | Tag::StartDaemon
            | Tag::StopDaemon
            | Tag::Completions
            | Tag::Man
            | Tag::Apply
            | Tag::Sysctl
            | Tag::Check => Err(Failure::fail(format!("invalid option `{}'", o.word))),
            Tag::DryRun | Tag::Scope | Tag::DrainTimeout | Tag::BestEffort => Err(Failure::fail(
                format!("option `{}' goes only with --apply", o.word),
            )),
        }
    }

    /// `-t`, `-u`, `--sctp-service`, `-f`, `-6`.
    fn service(&mut self, tag: Tag, arg: &str) -> Result<(), Failure> {
        if tag == Tag::Ipv6 {
            if self.fwmark == 0 {
                return Err(Failure::fail("-6 used before -f\n"));
            }
            self.svc_family = Some(AddressFamily::Inet6);
            self.netmask = 128;
            return Ok(());
        }
        self.set_option(opt::SERVICE)?;
        if tag == Tag::Fwmark {
            self.svc_family = Some(AddressFamily::Inet);
            self.protocol = Some(Protocol::Tcp);
            self.fwmark = addr::parse_fwmark(arg)
                .ok_or_else(|| Failure::fail(format!("invalid fwmark value `{arg}' specified")))?;
            return Ok(());
        }
        self.protocol = Some(match tag {
            Tag::Tcp => Protocol::Tcp,
            Tag::Udp => Protocol::Udp,
            _ => Protocol::Sctp,
        });
        let parsed = addr::parse_service(arg, self.protocol)
            .ok_or_else(|| Failure::fail("illegal virtual server address[:port] specified"))?;
        self.svc_addr = Some(parsed.addr);
        self.svc_family = Some(AddressFamily::of(&parsed.addr));
        if parsed.addr.is_ipv6() {
            self.netmask = 128;
        }
        if let Some(p) = parsed.port {
            self.svc_port = p;
        }
        Ok(())
    }

    /// `-s`, `-p`, `-M`, `-o`, `--pe`, `-b`.
    fn service_setting(&mut self, tag: Tag, arg: Option<&str>) -> Result<(), Failure> {
        let text = arg.unwrap_or_default();
        match tag {
            Tag::Scheduler => {
                self.set_option(opt::SCHEDULER)?;
                self.sched_name = truncate(text, 15);
            }
            Tag::Persistent => {
                self.set_option(opt::PERSISTENT)?;
                self.flags |= ServiceFlags::PERSISTENT.bits();
                self.timeout = parse_timeout(arg, 1, MAX_TIMEOUT)?;
            }
            Tag::Netmask => {
                self.set_option(opt::NETMASK)?;
                self.netmask = self.parse_netmask(text)?;
            }
            Tag::Ops => {
                self.set_option(opt::ONEPACKET)?;
                self.flags |= ServiceFlags::ONEPACKET.bits();
            }
            Tag::Pe => {
                self.set_option(opt::PE)?;
                // ipvsadm copies 16 bytes into a 16-byte buffer with no room for
                // the NUL; the kernel then sees at most 15 meaningful bytes.
                self.pe_name = truncate(text, 15);
            }
            _ => {
                self.set_option(opt::SCHED_FLAGS)?;
                self.sched_flags_arg = truncate(text, 127);
            }
        }
        Ok(())
    }

    /// `-M` against the family known so far, as ipvsadm evaluates it.
    fn parse_netmask(&self, arg: &str) -> Result<u32, Failure> {
        if self.svc_family != Some(AddressFamily::Inet6) {
            let mask = addr::parse_netmask(arg)
                .ok_or_else(|| Failure::fail("illegal virtual server persistent mask specified"))?;
            return Ok(u32::from(mask));
        }
        let plen = addr::atoi(arg);
        if !(1..=128).contains(&plen) {
            return Err(Failure::fail("illegal ipv6 netmask specified"));
        }
        Ok(plen as u32)
    }

    /// `-r`, `-g`, `-i`, `-m`, `-w`, `-x`, `-y`.
    fn destination(&mut self, tag: Tag, arg: &str) -> Result<(), Failure> {
        let max = i64::from(i32::MAX);
        match tag {
            Tag::RealServer => {
                self.set_option(opt::SERVER)?;
                let parsed = addr::parse_service(arg, self.protocol)
                    .ok_or_else(|| Failure::fail("illegal real server address[:port] specified"))?;
                self.dest_addr = Some(parsed.addr);
                // No port given: the service's port (as far as it is known yet).
                self.dest_port = parsed.port.unwrap_or(self.svc_port);
            }
            Tag::Ipip | Tag::Gate | Tag::Masq => {
                self.set_option(opt::FORWARD)?;
                self.forward = match tag {
                    Tag::Ipip => ForwardMethod::Tunnel,
                    Tag::Gate => ForwardMethod::DirectRoute,
                    _ => ForwardMethod::Masquerade,
                };
            }
            Tag::Weight => {
                self.set_option(opt::WEIGHT)?;
                self.weight = number(arg, 0, max, "illegal weight specified")? as u32;
            }
            Tag::UThreshold => {
                self.set_option(opt::UTHRESHOLD)?;
                self.u_threshold = number(arg, 0, max, "illegal u_threshold specified")? as u32;
            }
            _ => {
                self.set_option(opt::LTHRESHOLD)?;
                self.l_threshold = number(arg, 0, max, "illegal l_threshold specified")? as u32;
            }
        }
        Ok(())
    }

    /// `--tun-type`, `--tun-port`, `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
    fn tunnel(&mut self, tag: Tag, arg: &str) -> Result<(), Failure> {
        match tag {
            Tag::TunType => {
                self.set_option(opt::TUN_TYPE)?;
                self.tun_type = parse_tun_type(arg)
                    .ok_or_else(|| Failure::fail("illegal tunnel type specified"))?;
            }
            Tag::TunPort => {
                self.set_option(opt::TUN_PORT)?;
                self.tun_port = number(arg, 1, 65535, "illegal tunnel port specified")? as u16;
            }
            // No checksum is the absence of both flags (IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is 0).
            Tag::TunNoCsum => self.set_option(opt::TUN_NOCSUM)?,
            Tag::TunCsum => {
                self.set_option(opt::TUN_CSUM)?;
                self.tun_flags |= 1;
            }
            _ => {
                self.set_option(opt::TUN_REMCSUM)?;
                self.tun_flags |= 2;
            }
        }
        Ok(())
    }

    /// The sync daemon's options.
    fn daemon(&mut self, tag: Tag, arg: &str) -> Result<(), Failure> {
        match tag {
            Tag::McastInterface => {
                self.set_option(opt::MCAST)?;
                self.mcast_ifn = truncate(arg, 15);
            }
            Tag::SyncId => {
                self.set_option(opt::SYNCID)?;
                self.syncid = number(arg, 0, 255, "illegal syncid specified")? as u32;
            }
            Tag::McastGroup => {
                self.set_option(opt::MCAST_GROUP)?;
                self.mcast_group = Some(mcast_group(arg)?);
            }
            Tag::McastPort => {
                self.set_option(opt::MCAST_PORT)?;
                self.mcast_port = number(arg, 1, 65535, "illegal mcast-port specified")? as u16;
            }
            Tag::McastTtl => {
                self.set_option(opt::MCAST_TTL)?;
                self.mcast_ttl = number(arg, 1, 255, "illegal mcast-ttl specified")? as u8;
            }
            _ => {
                self.set_option(opt::SYNC_MAXLEN)?;
                self.sync_maxlen =
                    number(arg, 1, 65535 - 20 - 8, "illegal sync-maxlen specified")? as u16;
            }
        }
        Ok(())
    }

    /// The listing options: what to list and how.
    fn listing(&mut self, tag: Tag) -> Result<(), Failure> {
        let (bit, flag) = match tag {
            Tag::Numeric => (opt::NUMERIC, Some(&mut self.format.numeric)),
            Tag::Connection => (opt::CONNECTION, None),
            Tag::Timeout => (opt::TIMEOUT, None),
            Tag::Daemon => (opt::DAEMON, None),
            Tag::Stats => (opt::STATS, Some(&mut self.format.stats)),
            Tag::Rate => (opt::RATE, Some(&mut self.format.rate)),
            Tag::Thresholds => (opt::THRESHOLDS, Some(&mut self.format.thresholds)),
            Tag::PersistentConn => (opt::PERSISTENTCONN, Some(&mut self.format.persistent_conn)),
            Tag::NoSort => (opt::NOSORT, Some(&mut self.format.nosort)),
            Tag::Exact => (opt::EXACT, Some(&mut self.format.exact)),
            Tag::TunInfo => (opt::TUN_INFO, Some(&mut self.format.tun_info)),
            // `--sort` does nothing, not even count as given.
            _ => return Ok(()),
        };
        if let Some(flag) = flag {
            *flag = true;
        }
        self.set_option(bit)
    }

    /// `--json`, `--table`, `--lossless`, `--info`.
    fn extension(&mut self, tag: Tag) -> Result<(), Failure> {
        match tag {
            Tag::Json => {
                self.set_ext("json")?;
                self.output = Output::Json;
            }
            Tag::Table => {
                self.set_ext("table")?;
                self.output = Output::Table;
            }
            Tag::Lossless => {
                self.set_ext("lossless")?;
                self.lossless = true;
            }
            _ => {
                self.set_ext("info")?;
                self.info = true;
            }
        }
        Ok(())
    }
}

fn mcast_group(arg: &str) -> Result<IpAddr, Failure> {
    if arg.contains(':') {
        match arg.parse::<Ipv6Addr>() {
            Ok(a) if a.is_multicast() => Ok(IpAddr::V6(a)),
            _ => Err(Failure::fail(format!("invalid IPv6 mcast-group `{arg}'"))),
        }
    } else {
        match inet_pton4(arg) {
            Some(a) if a.is_multicast() => Ok(IpAddr::V4(a)),
            _ => Err(Failure::fail(format!("invalid IPv4 mcast-group `{arg}'"))),
        }
    }
}
