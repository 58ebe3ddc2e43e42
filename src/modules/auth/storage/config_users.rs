//! The `simple` storage: one account written in the `auth` section
//! (`user`, `passwd`, `group`, `home`, `status`). `passwd` may be in any
//! stored format (clear text or a hash, see [`crate::modules::auth::crypt`]).

use super::{ACTIVATED, Account};

/// The account of a section.
pub fn account(
    user: &str,
    passwd: &Option<String>,
    group: &Option<String>,
    home: &Option<String>,
    status: &Option<String>,
) -> Account {
    Account {
        name: user.to_string(),
        // No `passwd`: nothing matches (an empty stored value is unusable).
        password: passwd.clone().unwrap_or_default(),
        group: group.clone(),
        home: home.clone(),
        status: status.clone().unwrap_or_else(|| ACTIVATED.to_string()),
    }
}
