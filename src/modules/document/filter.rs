//! The URI filter, shared with `cgi` and `python`: see [`crate::uri_filter`].

pub use crate::uri_filter::UriFilter;
