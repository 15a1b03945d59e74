//! Any bytes given to the IPVS decoder yield messages or errors, never a panic;
//! whatever decodes converts to model types (or errors) and re-encodes.
#![no_main]

use ipvs_core::codec;
use ipvs_core::AddressFamily;
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::NetlinkPayload;

fuzz_target!(|data: &[u8]| {
    for msg in codec::decode(data) {
        let Ok(mut msg) = msg else { continue };
        match &msg.payload {
            NetlinkPayload::InnerMessage(g) => {
                let m = &g.payload;
                let _ = m.to_service();
                let _ = m.to_destination(AddressFamily::Inet);
                let _ = m.to_destination(AddressFamily::Inet6);
                let _ = m.to_daemon();
                let _ = m.to_timeouts();
                msg.finalize();
                let mut out = vec![0u8; msg.buffer_len()];
                msg.serialize(&mut out);
            }
            NetlinkPayload::Error(e) => {
                let _ = ipvs_core::netlink::ext_ack_message(msg.header.flags, &e.header);
            }
            _ => {}
        }
    }
});
