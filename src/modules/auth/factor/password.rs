//! Checking a password against the account's stored value: the part of
//! a factor that may block (files, databases, slow hashes) and so runs
//! inline or on the blocking pool, as the factor decides.

use std::sync::Arc;

use crate::error::HttpError;
use crate::modules::auth::crypt::Stored;
use crate::modules::auth::storage::{Account, Storage};
use crate::modules::auth::verified::Verified;

/// Look `user` up and check `password` against the stored value (blocking
/// for files, databases and slow hashes). An unknown user costs what a
/// known one does: the password is checked against `sample`, the last
/// stored value seen (same format). Slow checks that succeed are
/// remembered in `verified`.
pub(super) fn verify(
    storage: &Storage,
    sample: &std::sync::Mutex<Option<String>>,
    verified: &Verified,
    user: &str,
    password: &str,
) -> Result<Option<Arc<Account>>, HttpError> {
    let acct = storage.lookup(user).map_err(HttpError::internal)?;
    let mut last = sample
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(a) = acct else {
        let dummy = last.clone();
        drop(last);
        if let Some(d) = dummy {
            let _ = Stored::parse(&d).verify(user, password);
        }
        return Ok(None);
    };
    if last.as_deref() != Some(a.password.as_str()) {
        *last = Some(a.password.clone());
    }
    drop(last);
    let stored = Stored::parse(&a.password);
    if stored.is_slow() && verified.contains(user, password, &a.password) {
        return Ok(Some(a));
    }
    if !stored.verify(user, password) {
        return Ok(None);
    }
    if stored.is_slow() {
        verified.insert(user, password, &a.password);
    }
    Ok(Some(a))
}
