//! The parser: statements and blocks of keepalived.conf into [`crate::config::model`]
//! types, with `file:line` on every error. A token from the file appears in an error only
//! when it is the offending one, and then shortened ([`shown`]); a word that does not look
//! like a keyword is not repeated at all (an included `/etc/shadow` must not end up in
//! the log).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::config::lexer::{Tok, Token};
use crate::config::model::{
    err_at, shown, Config, ConfigError, GlobalDefs, InitialState, Instance, Location,
    ParsedInstance, TrackRef, Vip, VrrpScript,
};
use crate::config::validate::vip_problem;
use crate::packet::{ChecksumMode, Version};

mod lvs;
mod ssl;
#[cfg(test)]
pub(crate) use lvs::parse_secs as lvs_parse_secs;

/// Whether `w` looks like a keepalived keyword (letters, digits, `_`, `-`, `@`; short).
/// Anything else in keyword position is not repeated in messages: it is more likely a
/// line of a file that is no configuration at all.
fn keyword_like(w: &str) -> bool {
    !w.is_empty()
        && w.len() <= 48
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@'))
}

/// Statement reader over the tokens.
pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
    last_file: Rc<PathBuf>,
}

/// The words of one statement, with its location.
struct Stmt {
    words: Vec<String>,
    has_block: bool,
    file: Rc<PathBuf>,
    line: usize,
}

impl Stmt {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        err_at(&self.file, self.line, message)
    }
    fn kw(&self) -> &str {
        &self.words[0]
    }
    fn location(&self) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: self.line,
        }
    }
    fn one_arg(&self) -> Result<&str, ConfigError> {
        match self.words.as_slice() {
            [_, v] => Ok(v),
            [k] => Err(self.err(format!("{k}: missing value"))),
            [k, ..] => Err(self.err(format!(
                "{k}: takes one value, got {}",
                self.words.len() - 1
            ))),
            [] => Err(self.err("empty statement")),
        }
    }
    fn no_arg(&self) -> Result<(), ConfigError> {
        if self.words.len() != 1 {
            return Err(self.err(format!("{}: takes no value", self.kw())));
        }
        Ok(())
    }
    fn no_block(&self) -> Result<(), ConfigError> {
        if self.has_block {
            return Err(self.err(format!("{}: does not take a block", self.kw())));
        }
        Ok(())
    }
    fn int(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let v = self.one_arg()?;
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(format!(
                "{}: invalid value {}, expected an integer {min}-{max}",
                self.kw(),
                shown(v)
            ))),
        }
    }
    /// A decimal number of seconds with up to two decimals, as centiseconds.
    fn centis(&self, min_cs: u32, max_cs: u32, range: &str) -> Result<u32, ConfigError> {
        let v = self.one_arg()?;
        parse_centis(v)
            .filter(|cs| (min_cs..=max_cs).contains(cs))
            .ok_or_else(|| {
                self.err(format!(
                    "{}: invalid value {}, expected {range}",
                    self.kw(),
                    shown(v)
                ))
            })
    }
    fn unsupported(&self, ctx: &str) -> ConfigError {
        if keyword_like(self.kw()) {
            self.err(format!("unsupported keyword '{}' in {ctx}", self.kw()))
        } else {
            self.err(format!(
                "unsupported keyword in {ctx} (a word that is no keyword, {} characters; not shown)",
                self.kw().chars().count()
            ))
        }
    }
}

pub(crate) fn parse_centis(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 2 {
        return None;
    }
    let i: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    i.checked_mul(100)?.checked_add(f)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    /// Next statement inside the current block; `None` at `}` (consumed) or end of input.
    fn next_stmt(&mut self, in_block: bool) -> Result<Option<Stmt>, ConfigError> {
        loop {
            let Some(t) = self.peek().cloned() else {
                if in_block {
                    return Err(err_at(
                        &self.last_file,
                        0,
                        "unexpected end of file: missing '}'",
                    ));
                }
                return Ok(None);
            };
            self.last_file = t.file.clone();
            match t.tok {
                Tok::Eol => self.pos += 1,
                Tok::Close => {
                    if !in_block {
                        return Err(err_at(&t.file, t.line, "unexpected '}'"));
                    }
                    self.pos += 1;
                    return Ok(None);
                }
                Tok::Open => {
                    return Err(err_at(&t.file, t.line, "unexpected '{' without a keyword"))
                }
                Tok::Word(_) => break,
            }
        }
        let first = self.toks[self.pos].clone();
        let mut words = Vec::new();
        let mut has_block = false;
        while let Some(t) = self.peek().cloned() {
            match t.tok {
                Tok::Word(w) if t.line == first.line && Rc::ptr_eq(&t.file, &first.file) => {
                    words.push(w);
                    self.pos += 1;
                }
                Tok::Open => {
                    self.pos += 1;
                    has_block = true;
                    break;
                }
                Tok::Eol => {
                    self.pos += 1;
                    // keepalived allows the '{' on the next line.
                    while self.peek().is_some_and(|t| t.tok == Tok::Eol) {
                        self.pos += 1;
                    }
                    if self.peek().is_some_and(|t| t.tok == Tok::Open) {
                        self.pos += 1;
                        has_block = true;
                    }
                    break;
                }
                Tok::Close => break,
                Tok::Word(_) => break,
            }
        }
        Ok(Some(Stmt {
            words,
            has_block,
            file: first.file.clone(),
            line: first.line,
        }))
    }

    /// Skips a block, for error recovery-free parsing of list blocks: returns its lines.
    fn list_block(&mut self) -> Result<Vec<Stmt>, ConfigError> {
        let mut out = Vec::new();
        while let Some(s) = self.next_stmt(true)? {
            if s.has_block {
                return Err(s.err(format!("{}: unexpected block", shown(s.kw()))));
            }
            out.push(s);
        }
        Ok(out)
    }
}

fn user_group(s: &Stmt) -> Result<(String, Option<String>), ConfigError> {
    match s.words.as_slice() {
        [_, u] => Ok((u.clone(), None)),
        [_, u, g] => Ok((u.clone(), Some(g.clone()))),
        _ => Err(s.err(format!("{}: expected USER [GROUP]", s.kw()))),
    }
}

fn command(s: &Stmt) -> Result<Vec<String>, ConfigError> {
    let words: Vec<String> = s.words[1..]
        .iter()
        .flat_map(|w| w.split_whitespace())
        .map(String::from)
        .collect();
    if words.is_empty() {
        return Err(s.err(format!("{}: missing script", s.kw())));
    }
    Ok(words)
}

/// Parses the token stream into blocks; `path` names the main file for an error at the
/// end of input.
pub(crate) fn parse_tokens(
    toks: Vec<Token>,
    path: &Path,
) -> Result<(Config, Vec<ParsedInstance>), ConfigError> {
    let mut p = Parser {
        toks,
        pos: 0,
        last_file: Rc::new(path.to_path_buf()),
    };
    let mut cfg = Config::default();
    let mut pending = Vec::new();
    while let Some(s) = p.next_stmt(false)? {
        match s.kw() {
            "global_defs" => {
                if !s.has_block || s.words.len() != 1 {
                    return Err(s.err("global_defs: expected 'global_defs {'"));
                }
                parse_global(&mut p, &mut cfg.global)?;
            }
            "vrrp_script" => {
                let name = block_name(&s)?;
                if cfg.scripts.iter().any(|x| x.name == name) {
                    return Err(s.err(format!("vrrp_script {name} defined twice")));
                }
                cfg.scripts.push(parse_script(&mut p, name, s.location())?);
            }
            "vrrp_instance" => {
                let name = block_name(&s)?;
                if pending.iter().any(|(i, _): &ParsedInstance| i.name == name) {
                    return Err(s.err(format!("vrrp_instance {name} defined twice")));
                }
                pending.push(parse_instance(&mut p, name, &s)?);
            }
            "virtual_server" => cfg
                .virtual_servers
                .push(lvs::parse_virtual_server(&mut p, &s)?),
            "virtual_server_group" => cfg
                .virtual_server_groups
                .push(lvs::parse_group(&mut p, &s)?),
            "SSL" => cfg.ssl = Some(ssl::parse_ssl(&mut p, &s, &cfg.ssl)?),
            _ => return Err(s.unsupported("the top level")),
        }
    }
    Ok((cfg, pending))
}

fn block_name(s: &Stmt) -> Result<String, ConfigError> {
    match (s.words.as_slice(), s.has_block) {
        ([_, name], true) => Ok(name.clone()),
        _ => Err(s.err(format!("{}: expected '{} NAME {{'", s.kw(), s.kw()))),
    }
}

fn parse_global(p: &mut Parser, g: &mut GlobalDefs) -> Result<(), ConfigError> {
    while let Some(s) = p.next_stmt(true)? {
        s.no_block()?;
        match s.kw() {
            "router_id" => g.router_id = Some(s.one_arg()?.to_string()),
            "script_user" => {
                g.script_user = Some(user_group(&s)?);
                g.script_user_location = Some(s.location());
            }
            "enable_script_security" => {
                s.no_arg()?;
                g.enable_script_security = true;
            }
            "vrrp_version" => {
                g.vrrp_version = Some(if s.int(2, 3)? == 2 {
                    Version::V2
                } else {
                    Version::V3
                });
            }
            _ if lvs::global_keyword(&s, &mut g.lvs)? => {}
            _ => return Err(s.unsupported("global_defs")),
        }
    }
    Ok(())
}

fn parse_script(
    p: &mut Parser,
    name: String,
    location: Location,
) -> Result<VrrpScript, ConfigError> {
    let mut command = None;
    let mut interval = 100u32;
    let mut timeout = None;
    let mut weight = 0i32;
    let mut fall = 1u32;
    let mut rise = 1u32;
    let mut user = None;
    let mut user_location = None;
    while let Some(s) = p.next_stmt(true)? {
        s.no_block()?;
        match s.kw() {
            "script" => command = Some(self::command(&s)?),
            "interval" => interval = s.centis(1, 100 * 86400, "a number of seconds 0.01-86400")?,
            "timeout" => {
                timeout = Some(s.centis(1, 100 * 86400, "a number of seconds 0.01-86400")?)
            }
            "weight" => {
                // keepalived allows a trailing "reverse"; we do not.
                weight = s.int(-253, 253)? as i32;
            }
            "fall" => fall = s.int(1, 1_000_000)? as u32,
            "rise" => rise = s.int(1, 1_000_000)? as u32,
            "user" => {
                user = Some(user_group(&s)?);
                user_location = Some(s.location());
            }
            _ => return Err(s.unsupported(&format!("vrrp_script {name}"))),
        }
    }
    let command = command.ok_or_else(|| {
        err_at(
            &location.file,
            location.line,
            format!("vrrp_script {name}: missing 'script'"),
        )
    })?;
    let cs = |c: u32| Duration::from_millis(u64::from(c) * 10);
    Ok(VrrpScript {
        name,
        command,
        interval: cs(interval),
        timeout: cs(timeout.unwrap_or(interval)),
        weight,
        fall,
        rise,
        user,
        user_location,
        location,
    })
}

fn parse_addr(s: &Stmt, v: &str) -> Result<IpAddr, ConfigError> {
    v.parse()
        .map_err(|_| s.err(format!("{} is not an IP address", shown(v))))
}

fn parse_vip(s: &Stmt) -> Result<Vip, ConfigError> {
    let first = &s.words[0];
    let (a, plen) = match first.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (first.as_str(), None),
    };
    let addr = parse_addr(s, a)?;
    let max = if addr.is_ipv6() { 128 } else { 32 };
    let prefix_len = match plen {
        None => max,
        Some(l) => l.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(|| {
            s.err(format!(
                "virtual_ipaddress {}: prefix length must be 0-{max}",
                shown(first)
            ))
        })?,
    };
    let mut vip = Vip {
        addr,
        prefix_len,
        dev: None,
        label: None,
    };
    let mut rest = s.words[1..].iter();
    while let Some(k) = rest.next() {
        let val = rest
            .next()
            .ok_or_else(|| s.err(format!("virtual_ipaddress: {} needs a value", shown(k))))?;
        match k.as_str() {
            "dev" => vip.dev = Some(val.clone()),
            "label" => {
                if addr.is_ipv6() {
                    return Err(s.err("virtual_ipaddress: label is IPv4 only"));
                }
                vip.label = Some(val.clone())
            }
            _ => {
                return Err(s.err(format!(
                    "unsupported keyword {} in virtual_ipaddress",
                    shown(k)
                )))
            }
        }
    }
    if let Some(why) = vip_problem(&vip) {
        return Err(s.err(format!("virtual_ipaddress {}: {why}", shown(first))));
    }
    Ok(vip)
}

fn track_list(p: &mut Parser, what: &str) -> Result<Vec<TrackRef>, ConfigError> {
    let mut out = Vec::new();
    for s in p.list_block()? {
        let weight = match s.words.as_slice() {
            [_] => None,
            [_, w, v] if w == "weight" => Some(
                v.parse::<i32>()
                    .ok()
                    .filter(|n| (-254..=254).contains(n))
                    .ok_or_else(|| {
                        s.err(format!("{what}: weight {} must be -254..254", shown(v)))
                    })?,
            ),
            _ => return Err(s.err(format!("{what}: expected 'NAME [weight N]'"))),
        };
        out.push(TrackRef {
            name: s.words[0].clone(),
            weight,
        });
    }
    Ok(out)
}

fn parse_instance(
    p: &mut Parser,
    name: String,
    head: &Stmt,
) -> Result<(Instance, bool), ConfigError> {
    let ctx = format!("vrrp_instance {name}");
    let mut inst = Instance {
        name,
        initial_state: None,
        interface: String::new(),
        vrid: 0,
        priority: 100,
        advert_int_cs: 100,
        version: Version::V2,
        checksum_mode: ChecksumMode::PseudoHeader,
        auth_pass: None,
        vips: Vec::new(),
        unicast_src_ip: None,
        unicast_peers: Vec::new(),
        track_scripts: Vec::new(),
        track_interfaces: Vec::new(),
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        notify_master: None,
        notify_backup: None,
        notify_fault: None,
        notify_stop: None,
        notify: None,
        location: head.location(),
    };
    let mut explicit_version = false;
    while let Some(s) = p.next_stmt(true)? {
        let block_kw = matches!(
            s.kw(),
            "authentication"
                | "virtual_ipaddress"
                | "unicast_peer"
                | "track_script"
                | "track_interface"
        );
        if !block_kw {
            s.no_block()?;
        } else if !s.has_block || s.words.len() != 1 {
            return Err(s.err(format!("{}: expected '{} {{'", s.kw(), s.kw())));
        }
        match s.kw() {
            "state" => {
                inst.initial_state = Some(match s.one_arg()? {
                    "MASTER" => InitialState::Master,
                    "BACKUP" => InitialState::Backup,
                    v => {
                        return Err(s.err(format!(
                            "state: invalid value {}, expected MASTER or BACKUP",
                            shown(v)
                        )))
                    }
                })
            }
            "interface" => inst.interface = s.one_arg()?.to_string(),
            "virtual_router_id" => inst.vrid = s.int(1, 255)? as u8,
            "priority" => inst.priority = s.int(1, 255)? as u8,
            "advert_int" => {
                inst.advert_int_cs = s.centis(1, 25500, "a number of seconds 0.01-255")? as u16
            }
            "version" => {
                inst.version = if s.int(2, 3)? == 2 {
                    Version::V2
                } else {
                    Version::V3
                };
                explicit_version = true;
            }
            "v3_checksum_as_v2" => {
                s.no_arg()?;
                inst.checksum_mode = ChecksumMode::VrrpOnly;
            }
            "nopreempt" => {
                s.no_arg()?;
                inst.nopreempt = true;
            }
            "preempt" => s.no_arg()?,
            "preempt_delay" => inst.preempt_delay = Duration::from_secs(s.int(0, 1000)? as u64),
            "unicast_src_ip" => inst.unicast_src_ip = Some(parse_addr(&s, s.one_arg()?)?),
            "unicast_peer" => {
                for l in p.list_block()? {
                    if l.words.len() != 1 {
                        return Err(l.err("unicast_peer: expected one address per line"));
                    }
                    inst.unicast_peers.push(parse_addr(&l, &l.words[0])?);
                }
            }
            "virtual_ipaddress" => {
                for l in p.list_block()? {
                    inst.vips.push(parse_vip(&l)?);
                }
            }
            "authentication" => {
                let mut typ = None;
                let mut pass = None;
                while let Some(a) = p.next_stmt(true)? {
                    a.no_block()?;
                    match a.kw() {
                        "auth_type" => match a.one_arg()? {
                            "PASS" => typ = Some(()),
                            v => {
                                return Err(a.err(format!(
                                    "auth_type: unsupported value {}, only PASS is supported",
                                    shown(v)
                                )))
                            }
                        },
                        "auth_pass" => pass = Some(a.one_arg()?.to_string()),
                        _ => return Err(a.unsupported("authentication")),
                    }
                }
                if typ.is_none() || pass.is_none() {
                    return Err(s.err("authentication: needs auth_type PASS and auth_pass"));
                }
                inst.auth_pass = pass;
            }
            "track_script" => inst.track_scripts = track_list(p, "track_script")?,
            "track_interface" => inst.track_interfaces = track_list(p, "track_interface")?,
            "notify_master" => inst.notify_master = Some(command(&s)?),
            "notify_backup" => inst.notify_backup = Some(command(&s)?),
            "notify_fault" => inst.notify_fault = Some(command(&s)?),
            "notify_stop" => inst.notify_stop = Some(command(&s)?),
            "notify" => inst.notify = Some(command(&s)?),
            _ => return Err(s.unsupported(&ctx)),
        }
    }
    let err = |m: &str| err_at(&head.file, head.line, format!("{ctx}: {m}"));
    if inst.interface.is_empty() {
        return Err(err("missing 'interface'"));
    }
    if inst.vrid == 0 {
        return Err(err("missing 'virtual_router_id'"));
    }
    if inst.vips.is_empty() {
        return Err(err("missing 'virtual_ipaddress'"));
    }
    Ok((inst, explicit_version))
}
