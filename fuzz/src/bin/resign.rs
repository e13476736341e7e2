//! AFL++ target `resign`: see [`auth_fuzz::resign`]. Build with `cargo afl build`.

fn main() {
    // Built before the fuzz loop, so every iteration covers the same code.
    auth_fuzz::fixture();
    afl::fuzz!(|data: &[u8]| auth_fuzz::resign(data));
}
