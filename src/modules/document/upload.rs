//! Storing an upload without ever losing or truncating a file.
//!
//! The body is streamed into a temporary file beside the target
//! (`.marmoset-upload-<pid>-<n>` in the same directory, so the final rename
//! stays on one file system), `fsync`ed, then put in place in one step:
//!
//! - [`Mode::CreateNew`] (the original's PUT): `link(2)` the temporary
//!   file to the target, which fails with `EEXIST` if another request
//!   created it meanwhile — two concurrent PUTs end with one complete file
//!   and one `File exists`. On file systems without hard links the target
//!   is checked and the file renamed.
//! - [`Mode::Replace`] (POST, WebDAV PUT): `rename(2)` over the target,
//!   atomic for readers: they see the old file or the new one, whole.
//!
//! When the body fails (client gone, limit exceeded) or writing fails, the
//! temporary file is removed — also when the request's future is dropped
//! half-way — and the old file is untouched.
//!
//! Memory stays flat: at most [`WRITE_BUFFER`] bytes are held before they
//! are written, and writes run on the blocking pool so a slow disk never
//! stalls the runtime.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;

use crate::request_body::{BodyError, RequestBody};

/// Bytes gathered before one write to disk.
pub const WRITE_BUFFER: usize = 256 * 1024;

/// Prefix of temporary upload files (hidden from listings).
pub const TEMP_PREFIX: &str = ".marmoset-upload-";

/// How the finished file is put in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only if the target does not exist (else `EEXIST`).
    CreateNew,
    /// Replace the target if it exists.
    Replace,
}

/// What the upload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// The target did not exist.
    Created,
    /// An existing file was replaced.
    Replaced,
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Reading the request body failed (client gone, too large).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The file system refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The temporary file; removed on drop unless it was put in place.
struct Temp {
    path: PathBuf,
    file: Option<File>,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn temp_in(dir: &Path, perm: u32) -> io::Result<Temp> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perm)
            .open(&path)
        {
            Ok(file) => {
                return Ok(Temp {
                    path,
                    file: Some(file),
                    keep: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Run `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// Write `buf` to `file` on the blocking pool; both come back.
async fn write(file: File, buf: BytesMut) -> io::Result<(File, BytesMut)> {
    blocking(move || {
        let mut file = file;
        let mut buf = buf;
        file.write_all(&buf)?;
        buf.clear();
        Ok((file, buf))
    })
    .await
}

/// Stream `body` into `dir/name` (`perm`: mode of a new file).
pub async fn store(
    body: &mut RequestBody,
    dir: &Path,
    name: &OsStr,
    mode: Mode,
    perm: u32,
) -> Result<Stored, UploadError> {
    let mut temp = temp_in(dir, perm)?;
    let mut file = temp
        .file
        .take()
        .ok_or_else(|| io::Error::other("no file"))?;
    let mut buf = BytesMut::with_capacity(WRITE_BUFFER);
    while let Some(chunk) = body.chunk().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() >= WRITE_BUFFER {
            (file, buf) = write(file, buf).await?;
        }
    }
    if !buf.is_empty() {
        (file, buf) = write(file, buf).await?;
    }
    drop(buf);
    let target = dir.join(name);
    let (from, to) = (temp.path.clone(), target.clone());
    let stored = blocking(move || {
        file.sync_all()?;
        drop(file);
        let stored = put_in_place(&from, &to, mode)?;
        // The directory entry too, so a power cut keeps the new name.
        if let Some(parent) = to.parent() {
            let _ = File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(stored)
    })
    .await?;
    match mode {
        // The link made a second name; the temporary one goes on drop.
        Mode::CreateNew => {}
        Mode::Replace => temp.keep = true,
    }
    Ok(stored)
}

fn put_in_place(from: &Path, to: &Path, mode: Mode) -> io::Result<Stored> {
    match mode {
        Mode::Replace => {
            let existed = std::fs::symlink_metadata(to).is_ok();
            std::fs::rename(from, to)?;
            Ok(if existed {
                Stored::Replaced
            } else {
                Stored::Created
            })
        }
        Mode::CreateNew => match std::fs::hard_link(from, to) {
            Ok(()) => Ok(Stored::Created),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM | libc::EOPNOTSUPP | libc::EMLINK)
                ) =>
            {
                // No hard links here (FAT, some FUSE): check, then rename.
                if std::fs::symlink_metadata(to).is_ok() {
                    return Err(io::Error::from_raw_os_error(libc::EEXIST));
                }
                std::fs::rename(from, to)?;
                Ok(Stored::Created)
            }
            Err(e) => Err(e),
        },
    }
}
