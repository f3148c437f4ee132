//! How an ffmpeg or ffprobe child is contained: an address-space limit and a CPU-time limit set by
//! `prlimit` before it starts (the worker process itself never decodes untrusted frames), bounded
//! threads, and a wall-clock watchdog. What breaking a limit means is decided here too: a limit is
//! a property of the input, so it fails for good with a sentence that names the setting. Where the
//! machine allows it, the child also gets a network namespace of its own (no interface but a
//! loopback that is down): a demuxer talked into opening a URL has nowhere to connect.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::config::FfmpegLimits;

/// Why a contained child failed, split by whether another attempt can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChildError {
    /// A broken limit, or an error the same input will always give.
    #[error("{0}")]
    Permanent(String),
    /// Out of disk, killed from outside: worth another attempt.
    #[error("{0}")]
    Transient(String),
}

/// Scheduling niceness of every ffmpeg child (`nice -n`).
const ENCODE_NICENESS: &str = "10";

/// The whole environment of a contained child: where the tools are, and a locale that makes
/// their messages plain ASCII.
pub const CHILD_ENV: &[(&str, &str)] = &[("PATH", "/usr/local/bin:/usr/bin:/bin"), ("LC_ALL", "C")];

/// Most of a child's stderr kept for an error message: its last 64 KiB.
pub const STDERR_KEPT: usize = 64 * 1024;

/// Reads `r` to its end keeping only the last `keep` bytes: a child writing gigabytes of
/// warnings costs the worker `keep` bytes, and is never blocked on a full pipe.
pub async fn keep_tail(mut r: impl tokio::io::AsyncRead + Unpin, keep: usize) -> String {
    use tokio::io::AsyncReadExt;
    let mut kept: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend(&buf[..n]);
        let excess = kept.len().saturating_sub(keep);
        kept.drain(..excess);
    }
    String::from_utf8_lossy(kept.make_contiguous()).into_owned()
}

/// The longest line of a child's line-based output (ffmpeg's `-progress`, ffprobe's packet
/// CSV) that is kept: theirs are under a hundred bytes, and a crafted file can make a field (a
/// tag, a side data dump) as long as it likes.
pub const LINE_KEPT: usize = 4096;

/// Lines of a child's output, each cut to [`LINE_KEPT`] bytes: the rest of an overlong line is
/// read and dropped, never held.
pub struct BoundedLines<R> {
    r: R,
}

impl<R: tokio::io::AsyncBufRead + Unpin> BoundedLines<R> {
    pub fn new(r: R) -> Self {
        Self { r }
    }

    /// The next line without its `\n` (lossy UTF-8), `None` at the end.
    pub async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        use tokio::io::AsyncBufReadExt;
        let mut line = Vec::new();
        let mut any = false;
        loop {
            let buf = self.r.fill_buf().await?;
            if buf.is_empty() {
                return Ok(any.then(|| String::from_utf8_lossy(&line).into_owned()));
            }
            any = true;
            let (piece, used, ended) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = LINE_KEPT.saturating_sub(line.len());
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            self.r.consume(used);
            if ended {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
        }
    }
}

/// Reads `r` to its end, or `None` past `max` bytes (the caller then kills the child).
pub async fn read_capped(r: impl tokio::io::AsyncRead + Unpin, max: usize) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let read = r.take(max as u64 + 1).read_to_end(&mut out).await;
    (read.is_ok() && out.len() <= max).then_some(out)
}

/// Whether children can be given a network namespace of their own: `unshare --net
/// --map-root-user` (a user namespace maps the worker's own uid, so no privilege is needed where
/// the kernel allows unprivileged user namespaces). Probed once; a container's seccomp profile
/// often refuses it, and then children keep the worker's network (the deployment must cut it:
/// docs/operations.md).
pub fn network_isolated() -> bool {
    static ISOLATED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ISOLATED.get_or_init(|| {
        let ok = std::process::Command::new("unshare")
            .args(["--net", "--map-root-user", "true"])
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            tracing::info!("ffmpeg and ffprobe children run without network (a namespace of their own)");
        } else {
            tracing::warn!(
                "this machine refuses network namespaces (unshare): ffmpeg and ffprobe children keep the worker's network; cut it in the deployment"
            );
        }
        ok
    })
}

/// SIGXCPU: the kernel's answer to a process past its CPU-time limit.
const SIGXCPU: i32 = 24;

#[derive(Debug, Clone, PartialEq)]
pub struct Containment {
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    pub threads: usize,
    pub wall: Duration,
}

impl Containment {
    /// For work on `media_seconds` of media, from the worker's settings.
    pub fn for_media(limits: &FfmpegLimits, media_seconds: f64) -> Self {
        let cpu = limits.cpu_seconds(media_seconds);
        Self {
            memory_bytes: limits.max_memory_bytes,
            cpu_seconds: cpu,
            threads: limits.threads,
            wall: Duration::from_secs(cpu),
        }
    }

    /// A fixed budget (probe, poster): `seconds` of CPU and of wall clock.
    pub fn fixed(limits: &FfmpegLimits, seconds: u64) -> Self {
        Self {
            memory_bytes: limits.max_memory_bytes,
            cpu_seconds: seconds,
            threads: limits.threads,
            wall: Duration::from_secs(seconds),
        }
    }

    /// `program` (ffmpeg, ffprobe) contained: behind [`Self::prlimit_args`], with an environment
    /// of [`CHILD_ENV`] only. The worker's environment holds every secret it was given (database,
    /// store and signing keys, in the Kubernetes manifests all of them); a child that parses
    /// hostile files gets none of it. Its output must be read with [`read_capped`] or
    /// [`keep_tail`], never whole.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("prlimit");
        cmd.env_clear()
            .envs(CHILD_ENV.iter().copied())
            .args(self.prlimit_args())
            .arg(program);
        cmd
    }

    /// `prlimit --as=… --cpu=… -- setsid sh -c … nice -n 10` to put in front of the program.
    ///
    /// Encodes are batch work: where they share cores with the api, Postgres, Temporal or the
    /// store (`vodflow dev`, one machine), those answer first; on a transcode-only node nothing
    /// else wants the cores and the encodes get all of them. `nice` alone does not do that on a
    /// kernel with autogroup scheduling (the default on most distributions outside a cpu
    /// cgroup): there the cores are shared fairly between sessions, whatever the niceness of the
    /// tasks inside them, and two busy encodes held a Postgres backend runnable but unscheduled
    /// for up to 5.6 s (perf sched) while the api waited on it. So the child starts its own
    /// session (`setsid`, which does not fork: the child is not a group leader, and its pid stays
    /// ffmpeg's) and lowers that session's weight too; where autogroup is off or absent the write
    /// fails quietly and `nice` does the work.
    ///
    /// Inside the session, where [`network_isolated`], `unshare --net --map-root-user` (which
    /// does not fork either).
    pub fn prlimit_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--as={}", self.memory_bytes),
            format!("--cpu={}", self.cpu_seconds),
            "--".to_owned(),
        ];
        // The session's weight is set before the namespace: inside a user namespace the
        // session's autogroup file belongs to a user the child no longer is.
        let isolate = if network_isolated() {
            "unshare --net --map-root-user "
        } else {
            ""
        };
        args.extend([
            "setsid".to_owned(),
            "sh".to_owned(),
            "-c".to_owned(),
            format!(
                "{{ echo {ENCODE_NICENESS} >/proc/self/autogroup; }} 2>/dev/null; exec {isolate}nice -n {ENCODE_NICENESS} \"$@\""
            ),
            // $0 of the script: what `ps` and the shell's own messages call it.
            "vodflow-contained".to_owned(),
        ]);
        args
    }

    /// The error for a child that failed with `status` and `stderr`: a broken limit or an error
    /// that the same input will always give is permanent; running out of disk or being killed
    /// from outside is worth another attempt.
    pub fn classify(&self, what: &str, status: ExitStatus, stderr: &str) -> ChildError {
        let tail = tail(stderr);
        let low = stderr.to_ascii_lowercase();
        if status.signal() == Some(SIGXCPU) {
            return ChildError::Permanent(format!(
                "{what} needed more than {} s of CPU (VODFLOW_FFMPEG_CPU_FACTOR): the source is too expensive to decode",
                self.cpu_seconds
            ));
        }
        if low.contains("cannot allocate memory")
            || low.contains("out of memory")
            || low.contains("std::bad_alloc")
        {
            return ChildError::Permanent(format!(
                "{what} needed more than {} MiB of memory (VODFLOW_FFMPEG_MAX_MEMORY)",
                self.memory_bytes / (1024 * 1024)
            ));
        }
        if low.contains("no space left on device")
            || low.contains("resource temporarily unavailable")
        {
            return ChildError::Transient(format!("{what}: {tail}"));
        }
        match (status.code(), status.signal()) {
            // Killed from outside (the OOM killer, a shutdown): another worker may do better.
            (None, Some(sig)) if sig != libc_sigabrt() && sig != libc_sigsegv() => {
                ChildError::Transient(format!("{what} was killed by signal {sig}"))
            }
            (None, Some(sig)) => ChildError::Permanent(format!(
                "{what} crashed (signal {sig}) on this source: {tail}"
            )),
            (code, _) => ChildError::Permanent(format!(
                "{what} could not process the source (exit {}): {tail}",
                code.unwrap_or(-1)
            )),
        }
    }

    /// The error for a child the watchdog stopped.
    pub fn timed_out(&self, what: &str) -> ChildError {
        ChildError::Permanent(format!(
            "{what} ran longer than {} s (VODFLOW_FFMPEG_CPU_FACTOR): the source is too expensive to process",
            self.wall.as_secs()
        ))
    }
}

const fn libc_sigabrt() -> i32 {
    6
}

const fn libc_sigsegv() -> i32 {
    11
}

/// The last lines of what the child wrote, for a reason a person can read.
pub fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(4);
    let text = lines[from..].join("; ");
    if text.is_empty() {
        "no message".to_owned()
    } else {
        text.chars().take(600).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_output_line_is_read_in_bounded_memory() {
        let mut data = b"out_time_us=1\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        data.extend(b"\nout_time_us=2\nlast");
        let mut lines = BoundedLines::new(tokio::io::BufReader::new(&data[..]));
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "out_time_us=1");
        let long = lines.next_line().await.unwrap().unwrap();
        assert_eq!(long.len(), LINE_KEPT);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "out_time_us=2");
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "last");
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    fn c() -> Containment {
        Containment {
            memory_bytes: 1 << 30,
            cpu_seconds: 10,
            threads: 1,
            wall: Duration::from_secs(10),
        }
    }

    /// The contained child keeps its pid (what the watchdog kills), runs in a session of its
    /// own at niceness 10, and where the kernel shares cores between sessions, that session
    /// yields too.
    #[test]
    fn a_contained_child_runs_in_its_own_low_priority_session() {
        let child = std::process::Command::new("prlimit")
            .args(c().prlimit_args())
            .args([
                "sh",
                "-c",
                "echo $$; cat /proc/self/stat; cat /proc/self/autogroup || true",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            pid.to_string(),
            "setsid must not fork"
        );
        // After the command name in parentheses: state ppid pgrp session … nice is field 19.
        let stat = lines.next().unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        assert_eq!(fields[3], pid.to_string(), "its own session");
        assert_eq!(fields[16], ENCODE_NICENESS);
        let autogroup_on = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
            .is_ok_and(|v| v.trim() == "1");
        if autogroup_on {
            let group = lines.next().unwrap_or_default();
            assert!(
                group.ends_with(&format!("nice {ENCODE_NICENESS}")),
                "{group}"
            );
        }
    }

    /// A connection to a port the worker can reach fails from inside the containment.
    #[test]
    fn a_contained_child_cannot_open_a_connection() {
        assert!(
            network_isolated(),
            "this machine allows network namespaces; the children must get one"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connect = format!("echo hello > /dev/tcp/127.0.0.1/{port}");
        let outside = std::process::Command::new("bash")
            .args(["-c", &connect])
            .status()
            .unwrap();
        assert!(outside.success(), "the port is reachable from the worker");
        let inside = std::process::Command::new("prlimit")
            .args(c().prlimit_args())
            .args(["bash", "-c", &connect])
            .output()
            .unwrap();
        assert!(!inside.status.success(), "the contained child connected");
        let why = String::from_utf8_lossy(&inside.stderr);
        assert!(
            why.contains("unreachable") || why.contains("refused"),
            "{why}"
        );
    }

    #[test]
    fn limits_and_input_errors_are_permanent_disk_is_not() {
        let xcpu = ExitStatus::from_raw(SIGXCPU);
        assert!(
            matches!(c().classify("encode", xcpu, ""), ChildError::Permanent(m) if m.contains("CPU"))
        );
        let exit1 = ExitStatus::from_raw(1 << 8);
        assert!(matches!(
            c().classify("encode", exit1, "x\nCannot allocate memory\n"),
            ChildError::Permanent(m) if m.contains("memory")
        ));
        assert!(matches!(
            c().classify("encode", exit1, "Invalid data found when processing input"),
            ChildError::Permanent(_)
        ));
        assert!(matches!(
            c().classify("encode", exit1, "No space left on device"),
            ChildError::Transient(_)
        ));
        let killed = ExitStatus::from_raw(9);
        assert!(matches!(
            c().classify("encode", killed, ""),
            ChildError::Transient(_)
        ));
    }

    /// The attack: a crafted file that makes its parser run code reads the worker's secrets from
    /// its environment. A contained child has none of them.
    #[tokio::test]
    async fn a_contained_child_sees_no_secret_of_the_worker() {
        // What the test runner's environment has (cargo sets these; a worker has its secrets
        // beside them): none may reach the child.
        let inherited: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        assert!(
            inherited
                .iter()
                .any(|k| k == "CARGO_MANIFEST_DIR" || k == "HOME")
        );
        let out = c().command("env").output().await.unwrap();
        assert!(out.status.success());
        let env = String::from_utf8_lossy(&out.stdout);
        let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        for name in names {
            assert!(
                super::CHILD_ENV.iter().any(|(n, _)| *n == name)
                    || name == "PWD"
                    || name == "SHLVL"
                    || name == "_",
                "the child inherited {name}: {env}"
            );
        }
    }

    #[tokio::test]
    async fn a_childs_endless_output_costs_a_bounded_tail() {
        let noise = vec![b'x'; 1 << 20];
        let mut tail = noise.clone();
        tail.extend_from_slice(b"the real error");
        let kept = super::keep_tail(&tail[..], 1024).await;
        assert_eq!(kept.len(), 1024);
        assert!(kept.ends_with("the real error"));
        assert!(super::read_capped(&noise[..], 1000).await.is_none());
        assert_eq!(super::read_capped(&b"ok"[..], 1000).await.unwrap(), b"ok");
    }
}
