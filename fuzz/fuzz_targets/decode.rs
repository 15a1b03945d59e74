//! Any bytes given to the IPVS decoder yield messages or errors, never a panic;
//! whatever decodes converts to model types (or errors) and re-encodes.
#![no_main]

use ipvs_core::codec::{self, convert};
use ipvs_core::AddressFamily;
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::NetlinkPayload;

fuzz_target!(|data: &[u8]| {
    for msg in codec::decode(data) {
        let Ok(mut msg) = msg else { continue };
        match &msg.payload {
            NetlinkPayload::InnerMessage(g) => {
                let m = &g.payload;
                let _ = convert::service_of(m);
                let _ = convert::dest_of(m, AddressFamily::Inet);
                let _ = convert::dest_of(m, AddressFamily::Inet6);
                let _ = convert::daemon_of(m);
                let _ = convert::timeouts_of(m);
                msg.finalize();
                let mut out = vec![0u8; msg.buffer_len()];
                msg.serialize(&mut out);
            }
            NetlinkPayload::Error(e) => {
                let _ = codec::ext_ack_message(msg.header.flags, &e.header);
            }
            _ => {}
        }
    }
});
