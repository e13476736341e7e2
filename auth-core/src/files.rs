//! Key files, read with a size limit.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::KeyError;

/// The largest key file read: 1 MiB (a PEM key is a few KiB).
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
