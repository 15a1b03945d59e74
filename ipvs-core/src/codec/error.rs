//! The codec's own error: no I/O can fail here.

use netlink_packet_core::DecodeError;

/// What can go wrong turning model values into messages and back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A kernel message that cannot be decoded; the text names the attribute.
    #[error("cannot decode kernel message: {0}")]
    Decode(String),
    /// A value that cannot be sent (a name too long, fwmark 0, a netmask of
    /// the wrong family, ...); the text names the value and the rule.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl From<DecodeError> for CodecError {
    fn from(e: DecodeError) -> Self {
        CodecError::Decode(e.to_string())
    }
}
