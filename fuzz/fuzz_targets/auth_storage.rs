//! Stored credentials: password file lines, shadow files (and the account
//! status computed from them), and stored password formats (parsed, and
//! checked for the fast formats; the slow ones take their cost parameters
//! from the administrator's file, not from clients).

#![no_main]

use libfuzzer_sys::fuzz_target;
use marmoset::modules::auth::crypt::Stored;
use marmoset::modules::auth::digest::Hash;
use marmoset::modules::auth::storage::{file, shadow};
use marmoset_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [stored, user, password, lines] = fields::<4>(data);
    let (stored, user, password, lines) = (text(stored), text(user), text(password), text(lines));

    let s = Stored::parse(&stored);
    if !s.is_slow() || matches!(s, Stored::Md5Crypt(_)) {
        let _ = s.verify(&user, &password);
    }
    for hash in [Hash::Md5, Hash::Sha256, Hash::Sha512_256] {
        if let Some(ha1) = s.ha1(hash, &user, &password) {
            assert_eq!(ha1.len(), hash.output_len() * 2);
        }
    }
    if let Stored::Clear(c) = &s {
        assert!(s.verify(&user, c));
    }

    for line in lines.lines() {
        if let Some(a) = file::parse_line(line) {
            assert!(!a.name.is_empty());
        }
    }
    let _ = file::parse(&lines);
    let today = i64::from_le_bytes(
        data.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(8)
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap(),
    );
    for (_, entry) in shadow::parse_shadow(&lines) {
        let _ = shadow::status(&entry.hash, Some(&entry), today);
        let _ = shadow::status(&entry.hash, Some(&entry), 20_000);
    }
    let _ = shadow::status(&stored, None, today);
});
