//! Digest nonces (`auth::digest::Nonces`): arbitrary nonces are refused,
//! and for a genuine nonce a sequence of `nc` values from the input is
//! never accepted twice (no replay) whatever the order.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use marmoset::modules::auth::digest::{NonceCheck, Nonces};
use marmoset_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [forged, realm, ncs] = fields::<3>(data);
    let realm = text(realm);
    let forged = text(forged);
    // A nonce not issued by a verifier is never fresh for it. (This one
    // never issues any: a nonce it issued could be learnt by the fuzzer.)
    let verifier = Nonces::new([9u8; 32], 300);
    assert_ne!(
        verifier.validate(&forged, &realm),
        NonceCheck::Fresh,
        "{forged:?}"
    );
    assert_ne!(
        verifier.accept(&forged, &realm, "00000001"),
        NonceCheck::Fresh
    );
    let nonces = Nonces::new([7u8; 32], 300);
    let genuine = nonces.issue(&realm);
    // Replays of a genuine nonce.
    let mut seen = HashSet::new();
    for chunk in ncs.chunks(2) {
        let nc = u32::from(chunk[0]) << 8 | u32::from(*chunk.get(1).unwrap_or(&0));
        // Small steps mostly, sometimes a jump.
        let nc = if nc & 0x8000 != 0 {
            nc & 0x7fff
        } else {
            nc % 80
        };
        let hex = format!("{nc:08x}");
        match nonces.accept(&genuine, &realm, &hex) {
            NonceCheck::Fresh => assert!(seen.insert(nc), "nc {nc} accepted twice"),
            NonceCheck::Replay => {}
            NonceCheck::Invalid => assert_eq!(nc, 0),
            NonceCheck::Stale => panic!("a fresh nonce went stale"),
        }
    }
});
