//! Memory and CPU time of a process, read from Linux's `/proc`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::{BenchError, Result};

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux architecture we run on).
const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcessSample {
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time of all its threads so far.
    pub cpu: Duration,
}

/// Reads the resource use of process `pid`.
///
/// # Errors
///
/// [`BenchError::ReadProc`] when the process is gone or a file does not parse.
pub fn sample(pid: u32) -> Result<ProcessSample> {
    let status_path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = read(&status_path)?;
    let (rss_kib, peak_rss_kib) = parse_status(&status).ok_or_else(|| invalid(&status_path))?;
    let stat_path = PathBuf::from(format!("/proc/{pid}/stat"));
    let stat = read(&stat_path)?;
    let ticks = parse_stat_ticks(&stat).ok_or_else(|| invalid(&stat_path))?;
    Ok(ProcessSample {
        rss_kib,
        peak_rss_kib,
        cpu: Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND),
    })
}

/// Reads the resource use of this process.
///
/// # Errors
///
/// As [`sample`].
pub fn sample_self() -> Result<ProcessSample> {
    sample(std::process::id())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| BenchError::ReadProc {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path) -> BenchError {
    BenchError::ReadProc {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected format"),
    }
}

/// `(VmRSS, VmHWM)` in KiB from the text of `/proc/<pid>/status`.
fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time of the threads of process `pid` whose name (`comm`) starts with `prefix`.
///
/// # Errors
///
/// [`BenchError::ReadProc`] when the process's task list cannot be read.
pub fn threads_cpu(pid: u32, prefix: &str) -> Result<Duration> {
    let dir = PathBuf::from(format!("/proc/{pid}/task"));
    let entries = std::fs::read_dir(&dir).map_err(|source| BenchError::ReadProc {
        path: dir.clone(),
        source,
    })?;
    let mut ticks = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        if let Some(t) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| parse_stat_ticks(&stat))
        {
            ticks += t;
        }
    }
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// A process named `name` (its `comm`) that descends from this process, at most `depth` generations down.
#[must_use]
pub fn descendant_named(name: &str, depth: usize) -> Option<u32> {
    let me = std::process::id();
    let parent_of = |pid: u32| -> Option<(u32, String)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_owned();
        let ppid = stat
            .get(close + 1..)?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some((ppid, comm))
    };
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((mut ppid, comm)) = parent_of(pid) else {
            continue;
        };
        if comm != name {
            continue;
        }
        for _ in 0..depth {
            if ppid == me {
                return Some(pid);
            }
            match parent_of(ppid) {
                Some((next, _)) => ppid = next,
                None => break,
            }
        }
    }
    None
}

/// Total memory of the machine in MiB, from `/proc/meminfo`.
#[must_use]
pub fn total_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// The CPU model name, from `/proc/cpuinfo`.
#[must_use]
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
}

/// The 1-, 5- and 15-minute load averages, from `/proc/loadavg`.
#[must_use]
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

/// The kernel release, from `/proc/sys/kernel/osrelease`.
#[must_use]
pub fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_stat_parse() {
        let status = "Name:\tbench\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(parse_status(status), Some((10240, 20480)));
        let stat = "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3 0";
        assert_eq!(parse_stat_ticks(stat), Some(175));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample_self().unwrap();
        assert!(sample.rss_kib > 0);
        assert!(sample.peak_rss_kib >= sample.rss_kib);
        let all = threads_cpu(std::process::id(), "").unwrap();
        let none = threads_cpu(std::process::id(), "no thread has this name").unwrap();
        assert!(all >= none);
        assert_eq!(none, Duration::ZERO);
    }

    #[test]
    fn a_child_process_is_found_by_name() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendant_named("sleep", 2);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, Some(child.id()));
    }
}
