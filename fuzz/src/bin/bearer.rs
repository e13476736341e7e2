//! AFL++ target `bearer`: see [`auth_fuzz::bearer`]. Build with `cargo afl build`.

fn main() {
    // Built before the fuzz loop, so every iteration covers the same code.
    auth_fuzz::fixture();
    afl::fuzz!(|data: &[u8]| auth_fuzz::bearer(data));
}
