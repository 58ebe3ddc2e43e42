//! Bearer tokens (`auth::token::Tokens::verify`): arbitrary strings, and
//! tokens whose header and claims are arbitrary JSON correctly signed with
//! the verifier's secret (so that the claims code runs). Only HS256 tokens
//! signed with the secret are accepted, and the accepted user is sane.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use libfuzzer_sys::fuzz_target;
use marmoset::modules::auth::token::Tokens;
use marmoset_fuzz::{fields, text};

const SECRET: &str = "fuzzing secret";

fuzz_target!(|data: &[u8]| {
    let [header, payload, issuer] = fields::<3>(data);
    let tokens = Tokens::new(SECRET, 60);
    let issuer = text(issuer);
    // As given: a random string is never a valid token.
    let raw = text(data);
    let _ = tokens.verify(&raw, &issuer);

    // Signed with the secret.
    let h = URL_SAFE_NO_PAD.encode(header);
    let p = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    if let Ok(claims) = tokens.verify(&format!("{h}.{p}.{s}"), &issuer) {
        let header = String::from_utf8_lossy(header);
        // (JSON escapes could spell the name otherwise.)
        assert!(
            header.contains("HS256") || header.contains('\\'),
            "accepted a token whose header is {header:?}"
        );
        assert!(
            claims.user.status == "activated" || claims.user.status == "reapproving",
            "status {:?}",
            claims.user.status
        );
        for need in issuer.split('+') {
            assert!(claims.issuers.iter().any(|i| i == need), "{need:?} missing");
        }
    }
    // Signed with another secret: refused.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"another secret").unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    assert!(tokens.verify(&format!("{h}.{p}.{s}"), &issuer).is_err());
});
