//! Any bytes as `oshirase.yaml`: parsing and validating must never panic or hang, and every
//! error must name a line or a field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oshirase::content::config::RepoConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = RepoConfig::parse("oshirase.yaml", &text) {
        assert!(!e.message.is_empty());
    }
});
