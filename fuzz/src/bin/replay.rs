//! Runs fuzz targets without afl-fuzz, for a stack trace of a crash:
//!
//! ```text
//! cargo run --bin replay -- TARGET FILE...   # each file through TARGET
//! cargo run --bin replay -- seeds            # rewrite corpus/ and dict/
//! ```

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(first) = args.first() else {
        eprintln!("usage: replay TARGET FILE... | replay seeds");
        return ExitCode::FAILURE;
    };
    if first == "seeds" {
        return write_seeds();
    }
    let Some((_, target)) = auth_fuzz::TARGETS.iter().find(|(n, _)| n == first) else {
        eprintln!("unknown target {first:?}");
        return ExitCode::FAILURE;
    };
    for file in &args[1..] {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        target(&data);
        println!("{file}: ok");
    }
    ExitCode::SUCCESS
}

fn write_seeds() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .and_then(|()| std::fs::write(path, bytes))
            .map_err(|e| eprintln!("{}: {e}", path.display()))
    };
    for (target, name, bytes) in auth_fuzz::seeds::seeds() {
        if write(&root.join("corpus").join(target).join(name), &bytes).is_err() {
            return ExitCode::FAILURE;
        }
    }
    for (name, text) in auth_fuzz::seeds::dictionaries() {
        if write(&root.join("dict").join(name), text.as_bytes()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
