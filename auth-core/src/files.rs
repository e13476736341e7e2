//! Key files: read with a size limit, written whole or not at all,
//! readable by their owner only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::KeyError;

/// The largest key file read: 1 MiB (a PEM key is a few KiB, a key set
/// of [`MAX_RING_KEYS`](crate::MAX_RING_KEYS) RSA keys about 100 KiB).
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// The whole file at `path`, refused past [`MAX_KEY_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    let failed = |error| KeyError::Read {
        path: path.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        bytes.iter_mut().for_each(|b| *b = 0);
        return Err(KeyError::File {
            path: path.to_owned(),
            error: Box::new(KeyError::Unusable(format!(
                "the file is over {} KiB: not a key file",
                MAX_KEY_FILE_BYTES / 1024
            ))),
        });
    }
    Ok(bytes)
}

/// Replaces the file at `path` with `bytes`, atomically: a new file in the
/// same directory (mode 0600 on Unix, created anew, so never through a
/// link planted there), written and flushed to disk, then renamed over
/// `path`. A reader sees the old file or the new one, never a mix; a crash
/// leaves the old file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let failed = |error| KeyError::Write {
        path: path.to_owned(),
        error,
    };
    let temporary = temporary_path(path).map_err(failed)?;
    let written = write_new(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(failed(error));
    }
    // The rename itself reaches the disk with the directory (best effort:
    // not every platform opens directories).
    if let Some(dir) = directory(path) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn directory(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// `.name.<pid>.<n>.tmp` next to `path`: distinct for every write of
/// every process.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(temporary))
}
