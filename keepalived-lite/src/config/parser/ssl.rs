//! The top-level `SSL { }` block (keepalived's SSL context for SSL_GET) and the
//! on/off values keepalived's checkers take.

use std::path::PathBuf;

use super::{Parser, Stmt};
use crate::config::lvs::SslContext;
use crate::config::model::{shown, ConfigError};

/// `SSL { certificate FILE; key FILE; ca FILE }`. `password` (an encrypted key) is
/// refused: the key must be stored decrypted. The files are read when the checkers
/// start (and by `-t`), not here.
pub(super) fn parse_ssl(
    p: &mut Parser,
    s: &Stmt,
    prev: &Option<SslContext>,
) -> Result<SslContext, ConfigError> {
    if !s.has_block || s.words.len() != 1 {
        return Err(s.err("SSL: expected 'SSL {'"));
    }
    if prev.is_some() {
        return Err(s.err("SSL: a second SSL block (keepalived replaces the first one)"));
    }
    let mut ctx = SslContext {
        location: Some(s.location()),
        ..SslContext::default()
    };
    while let Some(k) = p.next_stmt(true)? {
        k.no_block()?;
        let slot =
            match k.kw() {
                "certificate" => &mut ctx.certificate,
                "key" => &mut ctx.key,
                "ca" => &mut ctx.ca,
                "password" => return Err(k.err(
                    "SSL password: encrypted private keys are not supported by keepalived-lite \
                     (store the key decrypted and remove 'password')",
                )),
                _ => return Err(k.unsupported("SSL")),
            };
        if slot.is_some() {
            return Err(k.err(format!("SSL {}: given twice", k.kw())));
        }
        *slot = Some((PathBuf::from(k.one_arg()?), k.location()));
    }
    if ctx.certificate.is_some() != ctx.key.is_some() {
        return Err(s.err("SSL: 'certificate' and 'key' go together (our client certificate)"));
    }
    Ok(ctx)
}

/// An optional on/off value as keepalived's `check_true_false` reads it: nothing, `true`,
/// `yes`, `on` are true; `false`, `no`, `off` false.
pub(super) fn flag(k: &Stmt) -> Result<bool, ConfigError> {
    match k.words.as_slice() {
        [_] => Ok(true),
        [_, v] => match v.as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(k.err(format!(
                "{}: invalid value {}, expected true or false",
                k.kw(),
                shown(v)
            ))),
        },
        _ => Err(k.err(format!("{}: expected at most one value", k.kw()))),
    }
}
