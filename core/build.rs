// `sqlx::migrate!` embeds `migrations/` at compile time, but stable Rust cannot tell cargo to watch
// a directory from a macro: without this, a new migration alone would not rebuild the crate, and
// the binary would run without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
