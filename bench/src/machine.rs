//! Facts about the machine (CPU model, core count, load) and CPU pinning with `taskset`.
//!
//! On a machine with few cores, where the client and the server run decides the figures more than
//! either driver does, so the bench, the postmaster (whose backends, forked later, inherit its
//! affinity) and pgbench all run on one core.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::BoxError;

/// The number of CPUs the machine has (all of them, not only those this process may use).
pub fn cpu_count() -> usize {
    fs::read_to_string("/proc/cpuinfo")
        .map(|info| {
            info.lines()
                .filter(|line| line.starts_with("processor"))
                .count()
        })
        .ok()
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
        .unwrap_or(1)
}

/// The CPU model from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The kernel release.
pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Pins every thread of process `pid` to `core` with `taskset -a -p -c`.
pub fn pin(pid: u32, core: usize) -> Result<(), BoxError> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("could not run taskset (util-linux): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {core} {pid} failed: {status}").into())
    }
}

/// The CPUs process `pid` may run on (`Cpus_allowed_list` of `/proc/<pid>/status`).
pub fn allowed_cpus(pid: u32) -> String {
    status_field(pid, "Cpus_allowed_list").unwrap_or_else(|| "unknown".to_owned())
}

/// A field of `/proc/<pid>/status`, without its name.
fn status_field(pid: u32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim().to_owned())
    })
}

/// This process's peak resident set size (`VmHWM`), in KiB.
pub fn own_peak_rss_kib() -> Result<u64, BoxError> {
    let value = status_field(std::process::id(), "VmHWM").ok_or("no VmHWM in /proc/self/status")?;
    let kib = value.trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

/// The CPU time the calling thread has used, in nanoseconds (the first field of
/// `/proc/thread-self/schedstat`). Both drivers run all their work on the thread that runs the
/// `current_thread` runtime, so this is the client's whole CPU cost.
pub fn thread_cpu_ns() -> Option<u64> {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The postmaster's process id, the first line of `postmaster.pid` in the data directory.
pub fn postmaster_pid(data_dir: &Path) -> Result<u32, BoxError> {
    let path = data_dir.join("postmaster.pid");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or_default().trim();
    Ok(first
        .parse()
        .map_err(|e| format!("{}: bad pid {first:?}: {e}", path.display()))?)
}

/// The processes whose parent is `parent`, from `/proc/<pid>/status`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| status_field(pid, "PPid").and_then(|p| p.parse().ok()) == Some(parent))
        .collect();
    children.sort_unstable();
    children
}
