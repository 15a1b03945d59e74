//! keepalived.conf parser for the subset keepalived-lite supports.
//!
//! Syntax as keepalived reads it: whitespace-separated words, `{`/`}` blocks, `#` and
//! `!` starting a comment at the start of a word, double-quoted strings, and
//! `include FILE` (a `*`/`?` pattern in the last path component is expanded; a relative
//! path is relative to the including file). Every keyword we do not support is an error
//! naming file, line and keyword; every bad value names the allowed range.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;

use crate::packet::{ChecksumMode, Version};

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct ConfigError {
    /// File the error is in.
    pub file: PathBuf,
    /// 1-based line number (0 when the file itself is the problem).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_instance` blocks, in file order.
    pub instances: Vec<Instance>,
    /// Settings adjusted the way keepalived adjusts them, with keepalived's reason.
    pub warnings: Vec<String>,
}

/// `global_defs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GlobalDefs {
    /// `router_id NAME`.
    pub router_id: Option<String>,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// Where `script_user` is, for the error when the user does not exist.
    pub script_user_location: Option<Location>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `vrrp_version 2|3`: default version of instances.
    pub vrrp_version: Option<Version>,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    /// Block name.
    pub name: String,
    /// `script "CMD ARGS"`: program and arguments (split on whitespace, no shell).
    pub command: Vec<String>,
    /// `interval SECONDS` (default 1).
    pub interval: Duration,
    /// `timeout SECONDS` (default: the interval).
    pub timeout: Duration,
    /// `weight -253..253` (default 0: failure means FAULT).
    pub weight: i32,
    /// `fall 1..` (default 1).
    pub fall: u32,
    /// `rise 1..` (default 1).
    pub rise: u32,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// Where `user` is, for the error when the user does not exist.
    pub user_location: Option<Location>,
    /// Where the block starts.
    pub location: Location,
}

/// A file and line, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// File.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One virtual address line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (default /32 or /128, as keepalived).
    pub prefix_len: u8,
    /// `dev IFACE` (default: the instance's interface).
    pub dev: Option<String>,
    /// `label LABEL` (IPv4 only).
    pub label: Option<String>,
}

/// Initial `state` wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP`.
    Backup,
}

/// A tracked script reference with an optional weight override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    /// Name of the `vrrp_script` or interface.
    pub name: String,
    /// `weight N` after the name, overriding the script's weight.
    pub weight: Option<i32>,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// Block name.
    pub name: String,
    /// `state MASTER|BACKUP`.
    pub initial_state: Option<InitialState>,
    /// `interface IFACE`.
    pub interface: String,
    /// `virtual_router_id 1-255`.
    pub vrid: u8,
    /// `priority 1-255` (default 100).
    pub priority: u8,
    /// `advert_int` in centiseconds (default 100).
    pub advert_int_cs: u16,
    /// `version 2|3` (default `vrrp_version` or 2; 3 for IPv6).
    pub version: Version,
    /// `v3_checksum_as_v2` selects [`ChecksumMode::VrrpOnly`].
    pub checksum_mode: ChecksumMode,
    /// `authentication { auth_type PASS auth_pass P }` (VRRPv2 only).
    pub auth_pass: Option<String>,
    /// `virtual_ipaddress { ... }`.
    pub vips: Vec<Vip>,
    /// `unicast_src_ip ADDR`.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ADDR ... }`.
    pub unicast_peers: Vec<IpAddr>,
    /// `track_script { NAME [weight N] ... }`.
    pub track_scripts: Vec<TrackRef>,
    /// `track_interface { IFACE ... }`.
    pub track_interfaces: Vec<TrackRef>,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay 0-1000` seconds.
    pub preempt_delay: Duration,
    /// `notify_master`.
    pub notify_master: Option<Vec<String>>,
    /// `notify_backup`.
    pub notify_backup: Option<Vec<String>>,
    /// `notify_fault`.
    pub notify_fault: Option<Vec<String>>,
    /// `notify_stop`.
    pub notify_stop: Option<Vec<String>>,
    /// `notify` (called with INSTANCE NAME STATE PRIORITY).
    pub notify: Option<Vec<String>>,
    /// Where the block starts.
    pub location: Location,
}

impl Instance {
    /// Whether this instance speaks IPv6 (decided by its virtual addresses).
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.addr.is_ipv6())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Eol,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    file: Rc<PathBuf>,
    line: usize,
}

fn err_at(file: &Path, line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn tokenize_file(path: &Path, depth: usize, out: &mut Vec<Token>) -> Result<(), ConfigError> {
    if depth > 8 {
        return Err(err_at(path, 0, "include nested more than 8 deep"));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| err_at(path, 0, format!("cannot read: {e}")))?;
    tokenize_str(path, &text, depth, out)
}

fn tokenize_str(
    path: &Path,
    text: &str,
    depth: usize,
    out: &mut Vec<Token>,
) -> Result<(), ConfigError> {
    let file = Rc::new(path.to_path_buf());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let mut words: Vec<Tok> = Vec::new();
        let mut chars = raw.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&c) = chars.peek() else { break };
            match c {
                '#' | '!' => break,
                '{' => {
                    chars.next();
                    words.push(Tok::Open);
                }
                '}' => {
                    chars.next();
                    words.push(Tok::Close);
                }
                '"' => {
                    chars.next();
                    let mut w = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        w.push(c);
                    }
                    if !closed {
                        return Err(err_at(path, line, "unterminated quoted string"));
                    }
                    words.push(Tok::Word(w));
                }
                _ => {
                    let mut w = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() || c == '{' || c == '}' {
                            break;
                        }
                        w.push(c);
                        chars.next();
                    }
                    words.push(Tok::Word(w));
                }
            }
        }
        if let [Tok::Word(kw), rest @ ..] = words.as_slice() {
            if kw == "include" {
                let [Tok::Word(pattern)] = rest else {
                    return Err(err_at(path, line, "include takes exactly one file name"));
                };
                for inc in expand_include(path, line, pattern)? {
                    tokenize_file(&inc, depth + 1, out)?;
                }
                continue;
            }
        }
        for tok in words {
            out.push(Token {
                tok,
                file: file.clone(),
                line,
            });
        }
        out.push(Token {
            tok: Tok::Eol,
            file: file.clone(),
            line,
        });
    }
    Ok(())
}

fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn expand_include(from: &Path, line: usize, pattern: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let p = Path::new(pattern);
    let p = if p.is_relative() {
        from.parent().unwrap_or(Path::new(".")).join(p)
    } else {
        p.to_path_buf()
    };
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if !name.contains(['*', '?']) {
        if !p.exists() {
            return Err(err_at(
                from,
                line,
                format!("include: {} does not exist", p.display()),
            ));
        }
        return Ok(vec![p]);
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let pat: Vec<char> = name.chars().collect();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            err_at(
                from,
                line,
                format!("include: cannot read {}: {e}", dir.display()),
            )
        })?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n: Vec<char> = e.file_name().to_string_lossy().chars().collect();
            glob_match(&pat, &n)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

struct Parser {
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
                "{}: invalid value '{v}', expected an integer {min}-{max}",
                self.kw()
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
                    "{}: invalid value '{v}', expected {range}",
                    self.kw()
                ))
            })
    }
    fn unsupported(&self, ctx: &str) -> ConfigError {
        self.err(format!("unsupported keyword '{}' in {ctx}", self.kw()))
    }
}

fn parse_centis(v: &str) -> Option<u32> {
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
                return Err(s.err(format!("'{}': unexpected block", s.kw())));
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

/// Parses the configuration file at `path` (following includes).
pub fn parse_file(path: &Path) -> Result<Config, ConfigError> {
    let mut toks = Vec::new();
    tokenize_file(path, 0, &mut toks)?;
    parse_tokens(toks, path)
}

/// Parses configuration text as if it were the file `path` (includes resolve from it).
pub fn parse_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut toks = Vec::new();
    tokenize_str(path, text, 0, &mut toks)?;
    parse_tokens(toks, path)
}

fn parse_tokens(toks: Vec<Token>, path: &Path) -> Result<Config, ConfigError> {
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
                if pending
                    .iter()
                    .any(|(i, _): &(Instance, bool)| i.name == name)
                {
                    return Err(s.err(format!("vrrp_instance {name} defined twice")));
                }
                pending.push(parse_instance(&mut p, name, &s)?);
            }
            _ => return Err(s.unsupported("the top level")),
        }
    }
    for (mut inst, explicit_version) in pending {
        let loc = inst.location.clone();
        let err = |m: String| {
            err_at(
                &loc.file,
                loc.line,
                format!("vrrp_instance {}: {m}", inst.name),
            )
        };
        if !explicit_version {
            inst.version = cfg.global.vrrp_version.unwrap_or(Version::V2);
            if inst.is_ipv6() {
                inst.version = Version::V3;
            }
        }
        // keepalived 2.2.7 drops these combinations with a warning; so do we.
        if inst.initial_state == Some(InitialState::Master) && inst.nopreempt {
            inst.nopreempt = false;
            cfg.warnings.push(format!(
                "{loc}: ({}) nopreempt will not work with initial state MASTER - clearing",
                inst.name
            ));
        }
        if inst.initial_state == Some(InitialState::Master) && !inst.preempt_delay.is_zero() {
            inst.preempt_delay = Duration::ZERO;
            cfg.warnings.push(format!(
                "{loc}: ({}) preempt_delay will not work with initial state MASTER - clearing",
                inst.name
            ));
        }
        if inst.nopreempt && !inst.preempt_delay.is_zero() {
            inst.preempt_delay = Duration::ZERO;
            cfg.warnings.push(format!(
                "{loc}: ({}) preempt_delay is incompatible with nopreempt - resetting",
                inst.name
            ));
        }
        if let Some(p) = &inst.auth_pass {
            if p.len() > 8 && inst.version == Version::V2 {
                cfg.warnings.push(format!(
                    "{loc}: ({}) auth_pass is cut to 8 characters on the wire",
                    inst.name
                ));
            }
        }
        if inst.is_ipv6() && inst.version == Version::V2 {
            return Err(err("IPv6 virtual addresses need version 3".into()));
        }
        if inst.vips.iter().any(|v| v.addr.is_ipv6() != inst.is_ipv6()) {
            return Err(err("virtual_ipaddress mixes IPv4 and IPv6".into()));
        }
        for a in inst.unicast_peers.iter().chain(inst.unicast_src_ip.iter()) {
            if a.is_ipv6() != inst.is_ipv6() {
                return Err(err(format!(
                    "unicast address {a} is not the family of the virtual addresses"
                )));
            }
        }
        if inst.version == Version::V2 && inst.advert_int_cs % 100 != 0 {
            return Err(err("advert_int: VRRPv2 needs whole seconds 1-255".into()));
        }
        if inst.version == Version::V3 && inst.advert_int_cs > 4095 {
            return Err(err("advert_int: VRRPv3 allows 0.01-40.95 seconds".into()));
        }
        // keepalived ignores a track_script that names no vrrp_script, with a warning.
        let (known, unknown): (Vec<TrackRef>, Vec<TrackRef>) =
            std::mem::take(&mut inst.track_scripts)
                .into_iter()
                .partition(|t| cfg.scripts.iter().any(|s| s.name == t.name));
        for t in unknown {
            cfg.warnings.push(format!(
                "{loc}: ({}) track script {} not found, ignoring...",
                inst.name, t.name
            ));
        }
        inst.track_scripts = known;
        if cfg.instances.iter().any(|o: &Instance| {
            o.vrid == inst.vrid && o.interface == inst.interface && o.is_ipv6() == inst.is_ipv6()
        }) {
            return Err(err(format!(
                "virtual_router_id {} already used on {}",
                inst.vrid, inst.interface
            )));
        }
        cfg.instances.push(inst);
    }
    Ok(cfg)
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
        .map_err(|_| s.err(format!("'{v}' is not an IP address")))
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
                "virtual_ipaddress {first}: prefix length must be 0-{max}"
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
            .ok_or_else(|| s.err(format!("virtual_ipaddress: '{k}' needs a value")))?;
        match k.as_str() {
            "dev" => vip.dev = Some(val.clone()),
            "label" => {
                if addr.is_ipv6() {
                    return Err(s.err("virtual_ipaddress: label is IPv4 only"));
                }
                vip.label = Some(val.clone())
            }
            _ => return Err(s.err(format!("unsupported keyword '{k}' in virtual_ipaddress"))),
        }
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
                    .ok_or_else(|| s.err(format!("{what}: weight '{v}' must be -254..254")))?,
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
                            "state: invalid value '{v}', expected MASTER or BACKUP"
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
                                    "auth_type: unsupported value '{v}', only PASS is supported"
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The configurations of ../shared/USE-CASE.md, verbatim (shared with the interop tests).
    const MULTICAST: &str = include_str!("../tests/fixtures/use-case-multicast.conf");

    const UNICAST: &str = include_str!("../tests/fixtures/use-case-unicast.conf");

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_str(Path::new("/etc/keepalived/keepalived.conf"), text)
    }

    #[test]
    fn use_case_multicast_config() {
        let c = parse(MULTICAST).expect("parses");
        assert_eq!(c.global.router_id.as_deref(), Some("kube-apiserver"));
        assert_eq!(c.global.script_user, Some(("root".into(), None)));
        assert_eq!(
            c.global.script_user_location.as_ref().map(|l| l.line),
            Some(3),
            "script_user's line, for an unknown-user error"
        );
        assert!(c.global.enable_script_security);
        let s = &c.scripts[0];
        assert_eq!(s.command, vec!["/usr/local/bin/health_check.sh"]);
        assert_eq!(
            (s.interval, s.timeout, s.weight, s.fall, s.rise),
            (Duration::from_secs(2), Duration::from_secs(2), -5, 2, 1)
        );
        let i = &c.instances[0];
        assert_eq!(i.name, "VI_API");
        assert_eq!(i.initial_state, Some(InitialState::Master));
        assert_eq!(
            (i.interface.as_str(), i.vrid, i.priority, i.advert_int_cs),
            ("eth0", 51, 100, 100)
        );
        assert_eq!(i.auth_pass.as_deref(), Some("YourStrongPass123!"));
        assert_eq!(
            i.vips,
            vec![Vip {
                addr: "192.168.1.100".parse().expect("ip"),
                prefix_len: 24,
                dev: Some("eth0".into()),
                label: None
            }]
        );
        assert_eq!(
            i.track_scripts,
            vec![TrackRef {
                name: "chk_apiserver".into(),
                weight: None
            }]
        );
        // keepalived: "preempt delay will not work with initial state MASTER - clearing".
        assert_eq!(i.preempt_delay, Duration::ZERO);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0]
            .contains(":15: (VI_API) preempt_delay will not work with initial state MASTER"));
        assert_eq!(i.version, Version::V2);
        assert_eq!(i.location.line, 15);
    }

    #[test]
    fn use_case_unicast_config_with_scripts_from_include() {
        let dir = std::env::temp_dir().join(format!("kl-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).expect("mkdir");
        std::fs::write(
            dir.join("conf.d/scripts.conf"),
            "vrrp_script chk_apiserver {\n script \"/bin/true\"\n}\n",
        )
        .expect("write");
        let main = dir.join("keepalived.conf");
        std::fs::write(&main, format!("include conf.d/*.conf\n{UNICAST}")).expect("write");
        let c = parse_file(&main).expect("parses");
        std::fs::remove_dir_all(&dir).ok();
        let i = &c.instances[0];
        assert_eq!(i.track_scripts.len(), 1);
        assert_eq!(i.unicast_src_ip, Some("10.0.0.10".parse().expect("ip")));
        // Alone, as in the use case, the unicast config names an undefined script:
        // keepalived ignores it with a warning, and so do we.
        let alone = parse(UNICAST).expect("parses alone");
        assert!(alone.instances[0].track_scripts.is_empty());
        assert!(alone
            .warnings
            .iter()
            .any(|w| w.contains("(VI_API) track script chk_apiserver not found, ignoring...")));
        assert_eq!(i.unicast_peers.len(), 2);
        assert_eq!(c.scripts[0].location.file, dir.join("conf.d/scripts.conf"));
    }

    #[test]
    fn unknown_keyword_names_file_line_and_keyword() {
        let text = MULTICAST.replace(
            "    preempt_delay 30\n",
            "    preempt_delay 30\n    use_vmac\n",
        );
        let e = parse(&text).expect_err("use_vmac is unsupported");
        assert_eq!(e.line, 32);
        assert_eq!(e.file, Path::new("/etc/keepalived/keepalived.conf"));
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:32: unsupported keyword 'use_vmac' in vrrp_instance VI_API"
        );
        let e = parse("virtual_server 192.0.2.1 80 {\n}\n").expect_err("unsupported");
        assert_eq!(e.to_string(), "/etc/keepalived/keepalived.conf:1: unsupported keyword 'virtual_server' in the top level");
    }

    #[test]
    fn bad_values_name_the_range() {
        let cases = [
            (
                "    priority 100\n",
                "    priority 256\n",
                "priority: invalid value '256', expected an integer 1-255",
            ),
            (
                "virtual_router_id 51",
                "virtual_router_id 0",
                "virtual_router_id: invalid value '0', expected an integer 1-255",
            ),
            (
                "preempt_delay 30",
                "preempt_delay 1001",
                "preempt_delay: invalid value '1001', expected an integer 0-1000",
            ),
            (
                "weight -5",
                "weight -300",
                "weight: invalid value '-300', expected an integer -253-253",
            ),
            (
                "advert_int 1",
                "advert_int 0",
                "advert_int: invalid value '0', expected a number of seconds 0.01-255",
            ),
            (
                "advert_int 1",
                "advert_int 1.5",
                "advert_int: VRRPv2 needs whole seconds 1-255",
            ),
            (
                "auth_type PASS",
                "auth_type AH",
                "auth_type: unsupported value 'AH', only PASS is supported",
            ),
            (
                "192.168.1.100/24",
                "192.168.1.100/33",
                "prefix length must be 0-32",
            ),
            (
                "192.168.1.100/24",
                "192.168.1.300/24",
                "'192.168.1.300' is not an IP address",
            ),
            (
                "state MASTER",
                "state master",
                "state: invalid value 'master', expected MASTER or BACKUP",
            ),
        ];
        for (from, to, want) in cases {
            let text = MULTICAST.replace(from, to);
            assert_ne!(text, MULTICAST, "{from}");
            let e = parse(&text).expect_err(to);
            assert!(e.to_string().contains(want), "{e} should contain {want}");
        }
    }

    #[test]
    fn v3_ipv6_and_checksum_keyword() {
        let c = parse(
            "vrrp_instance V6 {\n interface veth0\n virtual_router_id 9\n advert_int 0.5\n v3_checksum_as_v2\n virtual_ipaddress {\n  2001:db8::100/64\n }\n notify \"/bin/echo hello\"\n}\n",
        )
        .expect("parses");
        let i = &c.instances[0];
        assert_eq!(i.version, Version::V3);
        assert_eq!(i.advert_int_cs, 50);
        assert_eq!(i.checksum_mode, ChecksumMode::VrrpOnly);
        assert_eq!(i.vips[0].prefix_len, 64);
        assert_eq!(i.notify, Some(vec!["/bin/echo".into(), "hello".into()]));
        let e = parse("vrrp_instance V6 {\n interface veth0\n version 2\n virtual_router_id 9\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n")
            .expect_err("v2 over v6");
        assert!(
            e.to_string()
                .contains("IPv6 virtual addresses need version 3"),
            "{e}"
        );
    }

    #[test]
    fn structural_errors() {
        let e = parse("vrrp_instance X {\n interface e\n").expect_err("unterminated");
        assert!(e.to_string().contains("missing '}'"), "{e}");
        let e = parse("}\n").expect_err("stray");
        assert_eq!(e.line, 1);
        let e = parse("vrrp_instance X {\n interface e\n virtual_router_id 1\n}\n")
            .expect_err("no vip");
        assert!(e.to_string().contains("missing 'virtual_ipaddress'"), "{e}");
        let e = parse("include /nonexistent/keepalived.conf\n").expect_err("missing include");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = parse_file(Path::new("/nonexistent/keepalived.conf")).expect_err("no file");
        assert!(
            e.to_string()
                .starts_with("/nonexistent/keepalived.conf: cannot read: "),
            "{e}"
        );
        assert_eq!(parse_centis("0.05"), Some(5));
        assert_eq!(parse_centis("2"), Some(200));
        assert_eq!(parse_centis("1.234"), None);
        assert_eq!(parse_centis("x"), None);
    }

    #[test]
    fn syntax_details_as_keepalived_reads_them() {
        let c = parse(concat!(
            "# comment\n",
            "! another comment\n",
            "global_defs\n",
            "{\n",
            "    router_id r1 # trailing comment\n",
            "}\n",
            "vrrp_script s { \n",
            "    script \"/bin/check --flag value\"\n",
            "    timeout 0.5\n",
            "}\n",
            "vrrp_instance I {\n",
            "    interface e0\n",
            "    virtual_router_id 7\n",
            "    authentication {\n",
            "        auth_type PASS\n",
            "        auth_pass a!b#c\n",
            "    }\n",
            "    virtual_ipaddress {\n",
            "        192.0.2.1\n",
            "        192.0.2.2/24 label e0:x\n",
            "    }\n",
            "    track_script {\n",
            "        s weight 10\n",
            "    }\n",
            "    track_interface {\n",
            "        e1\n",
            "        e2 weight -20\n",
            "    }\n",
            "    nopreempt\n",
            "    notify_master \"/bin/echo up\"\n",
            "}\n",
        ))
        .expect("parses");
        assert_eq!(c.global.router_id.as_deref(), Some("r1"));
        let s = &c.scripts[0];
        assert_eq!(s.command, ["/bin/check", "--flag", "value"]);
        assert_eq!(
            (s.interval, s.timeout),
            (Duration::from_secs(1), Duration::from_millis(500))
        );
        let i = &c.instances[0];
        assert_eq!(
            i.auth_pass.as_deref(),
            Some("a!b#c"),
            "comment characters inside a word stay"
        );
        assert_eq!(i.vips[0].prefix_len, 32);
        assert_eq!(i.vips[1].label.as_deref(), Some("e0:x"));
        assert_eq!(
            i.track_scripts,
            [TrackRef {
                name: "s".into(),
                weight: Some(10)
            }]
        );
        assert_eq!(
            i.track_interfaces,
            [
                TrackRef {
                    name: "e1".into(),
                    weight: None
                },
                TrackRef {
                    name: "e2".into(),
                    weight: Some(-20)
                }
            ]
        );
        assert!(i.nopreempt);
        assert_eq!(i.notify_master, Some(vec!["/bin/echo".into(), "up".into()]));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn duplicate_and_misplaced_things_are_errors() {
        let inst = "vrrp_instance I {\n interface e0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
        let e = parse(&format!("{inst}{inst}")).expect_err("twice");
        assert!(
            e.to_string().contains("vrrp_instance I defined twice"),
            "{e}"
        );
        let e = parse(&format!(
            "{inst}{}",
            inst.replace("instance I", "instance J")
        ))
        .expect_err("same vrid");
        assert!(
            e.to_string()
                .contains("virtual_router_id 7 already used on e0"),
            "{e}"
        );
        let e = parse("global_defs {\n router_id\n}\n").expect_err("no value");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:2: router_id: missing value"
        );
        let e = parse("global_defs {\n nopreempt\n}\n").expect_err("wrong block");
        assert!(
            e.to_string()
                .contains(":2: unsupported keyword 'nopreempt' in global_defs"),
            "{e}"
        );
        let e =
            parse(&inst.replace(" interface e0\n", " interface e0 e1\n")).expect_err("two values");
        assert!(
            e.to_string()
                .contains(":2: interface: takes one value, got 2"),
            "{e}"
        );
        let e = parse(&inst.replace("  192.0.2.1\n", "  192.0.2.1 brd 192.0.2.255\n"))
            .expect_err("brd");
        assert!(
            e.to_string()
                .contains(":5: unsupported keyword 'brd' in virtual_ipaddress"),
            "{e}"
        );
        let e = parse(&inst.replace("  192.0.2.1\n", "  192.0.2.1\n  2001:db8::1\n"))
            .expect_err("mixed");
        assert!(e.to_string().contains("mixes IPv4 and IPv6"), "{e}");
        let e = parse("vrrp_script s {\n interval 1\n}\n").expect_err("no script");
        assert!(
            e.to_string()
                .contains(":1: vrrp_script s: missing 'script'"),
            "{e}"
        );
        let e = parse("vrrp_script s {\n script \"/bin/true\n}\n").expect_err("quote");
        assert!(
            e.to_string().contains(":2: unterminated quoted string"),
            "{e}"
        );
    }
}
