//! Fuzz how wa-client interprets server stanzas: decode a frame plaintext, classify stream
//! errors and failures, extract pairing refs, build acks. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_client::stanza::{Disposition, inspect_frame};

fuzz_target!(|data: &[u8]| {
    if let Some(d) = inspect_frame(data) {
        // A verdict is always one of the known dispositions with a non-empty reason.
        match d {
            Disposition::Restart => {}
            Disposition::Retry(r) | Disposition::LoggedOut(r) | Disposition::Stop(r) => {
                assert!(!r.is_empty())
            }
            _ => {}
        }
    }
});
