//! mimalloc's options for this binary. mimalloc reads them from the environment before `main`
//! runs (its first arena is made for the runtime's first allocations), so the process that lacks
//! them starts itself again, once, with them set: same PID, same arguments.

use std::os::unix::process::CommandExt;

/// Eagerly committed arenas made 15 MiB of an idle api's 63 MiB RSS resident for nothing: a
/// part buffer is committed when it is first filled anyway.
const OPTIONS: [(&str, &str); 1] = [("MIMALLOC_ARENA_EAGER_COMMIT", "0")];

pub(crate) fn apply_options() {
    if OPTIONS.iter().all(|(k, _)| std::env::var_os(k).is_some()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut again = std::process::Command::new(exe);
    again.args(std::env::args_os().skip(1));
    for (k, v) in OPTIONS {
        if std::env::var_os(k).is_none() {
            again.env(k, v);
        }
    }
    // `exec` returns only when it failed (the binary was replaced on disk, say): go on with
    // mimalloc's defaults.
    let _ = again.exec();
}
