//! Worker processes: a `bench-worker` child the driver starts, talks to through its standard streams, and
//! always reaps (killed on drop).
//!
//! A worker writes one line per event on stdout: `ready key=value ...` once it serves, `assigned 0,3,5` whenever
//! the partitions it owns change, and `stats key=value ...` before it exits. It stops gracefully when its
//! standard input closes, so it never outlives the driver.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// The `key=value` fields of a worker's line.
pub type Fields = BTreeMap<String, String>;

/// What the driver learned from a worker's output so far.
#[derive(Debug, Clone, Default)]
pub struct WorkerState {
    /// When the `ready` line arrived, with its fields.
    pub ready: Option<(Instant, Fields)>,
    /// The partitions it owns, from its last `assigned` line.
    pub assignment: Vec<i32>,
    /// When the last `assigned` line arrived.
    pub assigned_at: Option<Instant>,
    /// The fields of its `stats` line.
    pub stats: Option<Fields>,
    /// The fields of its last `status` line.
    pub status: Option<Fields>,
    /// Its standard output closed (it exited or is exiting).
    pub closed: bool,
}

/// A running worker process. Dropping it kills the process and reaps it.
#[derive(Debug)]
pub struct WorkerProcess {
    name: String,
    spawned_at: Instant,
    child: Child,
    stdin: Option<ChildStdin>,
    state: Arc<Mutex<WorkerState>>,
}

fn lock(state: &Mutex<WorkerState>) -> std::sync::MutexGuard<'_, WorkerState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Splits `key=value key=value` into fields (words without `=` are skipped).
#[must_use]
pub fn parse_fields(text: &str) -> Fields {
    text.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Parses an `assigned` line's list (`0,3,5`, or nothing for no partitions).
#[must_use]
pub fn parse_partitions(text: &str) -> Vec<i32> {
    text.split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

impl WorkerProcess {
    /// Starts `exe` with `args`, its stderr going to `log`.
    ///
    /// # Errors
    ///
    /// [`BenchError::Worker`] when the log file cannot be created or the process cannot be started.
    pub fn spawn(exe: &Path, args: &[String], name: &str, log: &Path) -> Result<Self> {
        let worker_error = |operation, source| BenchError::Worker {
            name: name.to_owned(),
            operation,
            source,
        };
        let log_file = std::fs::File::create(log).map_err(|e| worker_error("create log", e))?;
        let spawned_at = Instant::now();
        let mut child = Command::new(exe)
            .args(args)
            .env("BENCH_WORKER_NAME", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| worker_error("spawn", e))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let state = Arc::new(Mutex::new(WorkerState::default()));
        if let Some(stdout) = stdout {
            let shared = Arc::clone(&state);
            let spawned = std::thread::Builder::new()
                .name(format!("bench-worker-{name}"))
                .spawn(move || read_lines(stdout, &shared));
            if let Err(error) = spawned {
                let _ = child.kill();
                let _ = child.wait();
                return Err(worker_error("start reader thread", error));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            spawned_at,
            child,
            stdin,
            state,
        })
    }

    /// The worker's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When it was started.
    #[must_use]
    pub const fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// A copy of what it reported so far.
    #[must_use]
    pub fn state(&self) -> WorkerState {
        lock(&self.state).clone()
    }

    /// Waits for its `ready` line and returns the line's fields and the time from spawn to ready.
    ///
    /// # Errors
    ///
    /// [`BenchError::Timeout`] after `timeout` or when it exits first.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(Fields, Duration)> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.state();
            if let Some((at, fields)) = state.ready {
                return Ok((fields, at.duration_since(self.spawned_at)));
            }
            if state.closed || Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!(
                        "worker {} becoming ready (see its log under target/bench/logs)",
                        self.name
                    ),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Closes its standard input (asking it to stop), waits up to `timeout` for it to exit, kills it otherwise,
    /// and returns its `stats` fields, if it wrote them.
    pub async fn finish(mut self, timeout: Duration) -> Option<Fields> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    tracing::warn!(worker = %self.name, "worker did not stop in time: killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        // Give the reader thread a moment to take the last lines.
        for _ in 0..50 {
            if lock(&self.state).closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.state().stats
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_lines(stdout: std::process::ChildStdout, state: &Mutex<WorkerState>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let mut state = lock(state);
        match word {
            "ready" => state.ready = Some((Instant::now(), parse_fields(rest))),
            "assigned" => {
                state.assignment = parse_partitions(rest);
                state.assigned_at = Some(Instant::now());
            }
            "stats" => state.stats = Some(parse_fields(rest)),
            "status" => state.status = Some(parse_fields(rest)),
            _ => tracing::debug!(%line, "worker line ignored"),
        }
    }
    lock(state).closed = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_lines_parse() {
        let fields = parse_fields("start_ms=12.5 instance=echo-1 junk");
        assert_eq!(fields["start_ms"], "12.5");
        assert_eq!(fields["instance"], "echo-1");
        assert_eq!(fields.len(), 2);
        assert_eq!(parse_partitions("0,3,5"), vec![0, 3, 5]);
        assert!(parse_partitions("").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_is_read_and_reaped() {
        tokio::time::timeout(Duration::from_secs(20), async {
            let dir = std::env::temp_dir();
            let log = dir.join(format!("bench-worker-test-{}.log", std::process::id()));
            let args = [
                "-c".to_owned(),
                "echo 'ready a=1'; echo 'assigned 1,2'; cat >/dev/null; echo 'stats handled=3'"
                    .to_owned(),
            ];
            let worker = WorkerProcess::spawn(Path::new("/bin/sh"), &args, "sh", &log).unwrap();
            let (fields, _) = worker.wait_ready(Duration::from_secs(10)).await.unwrap();
            assert_eq!(fields["a"], "1");
            let stats = worker.finish(Duration::from_secs(10)).await.unwrap();
            assert_eq!(stats["handled"], "3");
            let _ = std::fs::remove_file(log);
        })
        .await
        .unwrap();
    }
}
