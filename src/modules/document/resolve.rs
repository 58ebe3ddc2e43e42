//! The path resolver, shared with `cgi` and `python`: see [`crate::resolve`].

pub use crate::resolve::{OpenFile, Root, Target};
