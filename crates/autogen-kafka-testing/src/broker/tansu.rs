//! A Tansu broker child process with in-memory storage, for tests that need a real
//! Kafka-protocol broker (admin API, real consumer-group coordinator) outside the process.
//!
//! The broker runs under a small `/bin/sh` supervisor that holds the read end of a pipe whose
//! write end is the child's stdin in this process. Writing `stop` kills the broker at once;
//! end-of-file (the fixture was dropped, or the test process died, even by `SIGKILL`) kills it
//! after [`STOP_GRACE`]. So a broker never outlives its test process, and dropping the fixture
//! never blocks.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

use super::STOP_GRACE;
use crate::error::{Result, TestingError};

/// Environment variable naming the Tansu binary; overrides the installed one.
pub(crate) const TANSU_BIN_ENV: &str = "TANSU_BIN";

/// Environment variable whose value becomes the broker's `RUST_LOG` (unset: Tansu's default).
const TANSU_LOG_ENV: &str = "TANSU_LOG";

/// Where `scripts/install-tansu.sh` puts the binary, relative to the repository root.
const INSTALLED_BINARY: &str = ".tools/tansu/tansu";

/// How long a fresh broker may take to accept connections (it normally takes ~0.1 s).
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How often readiness is probed.
const READY_POLL: Duration = Duration::from_millis(20);

/// How many times a start is retried when the broker exits at once (e.g. the port was taken
/// between reserving it and the broker binding it).
const START_ATTEMPTS: u32 = 3;

/// The supervisor script, run as
/// `sh -c SUPERVISOR tansu-supervisor <grace seconds> <binary> <args>...`.
///
/// fd 3 keeps the pipe from the fixture; the broker gets `/dev/null` as stdin and no fd 3. A
/// watcher subshell reads one line from the pipe: `stop` kills the broker now, anything else
/// (end-of-file) kills it after the grace period. The supervisor exits with the broker's
/// status, so an early crash shows up as the supervisor's exit.
const SUPERVISOR: &str = r#"
grace=$1
shift
exec 3<&0 </dev/null
"$@" 3<&- &
broker=$!
(
    read -r command <&3 || command=
    [ "$command" = stop ] || sleep "$grace"
    kill -KILL "$broker" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$broker"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// The binary to run: `$TANSU_BIN` when set and non-empty, else the one the install script
/// puts under the repository root.
pub(crate) fn binary_path(tansu_bin: Option<OsString>) -> PathBuf {
    match tansu_bin {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => repository_root().join(INSTALLED_BINARY),
    }
}

/// The workspace root, two levels above this crate's manifest.
fn repository_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// How a broker is started: its storage engine URL, whether clients must authenticate, and the directory it
/// runs in (Tansu resolves `sqlite://` paths against it).
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    storage: String,
    authentication: bool,
    dir: Option<PathBuf>,
}

impl Launch {
    /// Memory storage, no authentication: every record is lost when the broker stops.
    pub(crate) fn memory() -> Self {
        Self {
            storage: "memory://tansu/".to_owned(),
            authentication: false,
            dir: None,
        }
    }

    /// SQLite storage in `dir` (kept across restarts, and the only storage in which Tansu 0.6 keeps SCRAM
    /// credentials), with client authentication on or off.
    pub(crate) fn sqlite(dir: PathBuf, authentication: bool) -> Self {
        Self {
            storage: "sqlite://tansu.db".to_owned(),
            authentication,
            dir: Some(dir),
        }
    }
}

/// A running Tansu broker (under its supervisor). Killed [`STOP_GRACE`] after drop.
#[derive(Debug)]
pub(crate) struct TansuProcess {
    binary: PathBuf,
    port: u16,
    /// The port clients are told to connect to (the broker's own, or a proxy's in front of it).
    advertised: Option<u16>,
    launch: Launch,
    log: PathBuf,
    child: Option<Child>,
}

impl TansuProcess {
    /// Spawns `binary` on a free 127.0.0.1 port and waits until the port accepts connections.
    pub(crate) async fn start(binary: PathBuf) -> Result<Self> {
        Self::start_advertising(binary, None).await
    }

    /// [`start`](Self::start) with the storage and authentication of `launch`.
    pub(crate) async fn start_with(binary: PathBuf, launch: Launch) -> Result<Self> {
        Self::start_inner(binary, None, launch).await
    }

    /// [`start`](Self::start), telling clients to connect to 127.0.0.1:`advertised` (a proxy in front of the
    /// broker) instead of the broker's own port.
    pub(crate) async fn start_advertising(
        binary: PathBuf,
        advertised: Option<u16>,
    ) -> Result<Self> {
        Self::start_inner(binary, advertised, Launch::memory()).await
    }

    async fn start_inner(binary: PathBuf, advertised: Option<u16>, launch: Launch) -> Result<Self> {
        if !binary.is_file() {
            return Err(TestingError::TansuBinaryNotFound { path: binary });
        }
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let log = log_path(port);
            let mut process = Self {
                child: Some(spawn(
                    &binary,
                    port,
                    advertised.unwrap_or(port),
                    &launch,
                    &log,
                )?),
                binary: binary.clone(),
                port,
                advertised,
                launch: launch.clone(),
                log,
            };
            match process.wait_ready().await {
                Ok(()) => {
                    tracing::debug!(port, log = %process.log.display(), "Tansu broker ready");
                    return Ok(process);
                }
                Err(error @ TestingError::TansuExited { .. }) if attempt < START_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "Tansu broker exited at start; retrying on another port");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the broker itself listens on.
    pub(crate) const fn port(&self) -> u16 {
        self.port
    }

    /// The file that receives the broker's stdout and stderr.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Kills the broker and starts a new one on the same port. With memory storage every
    /// topic, record and committed offset is lost.
    pub(crate) async fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let mut attempt = 1;
        loop {
            self.child = Some(spawn(
                &self.binary,
                self.port,
                self.advertised.unwrap_or(self.port),
                &self.launch,
                &self.log,
            )?);
            match self.wait_ready().await {
                Ok(()) => return Ok(()),
                Err(TestingError::TansuExited { .. }) if attempt < START_ATTEMPTS => {
                    // The old socket may linger for a moment; try the same port again.
                    attempt += 1;
                    sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Kills the broker at once and reaps it. Does nothing if it is not running.
    pub(crate) fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(mut pipe) = child.stdin.take() {
            // Fails only if the supervisor is gone already, and then there is nothing to stop.
            if let Err(error) = pipe.write_all(b"stop\n") {
                tracing::debug!(%error, "Tansu supervisor no longer listening");
            }
        }
        child.wait().map_err(|source| TestingError::TansuProcess {
            operation: "wait for",
            source,
        })?;
        Ok(())
    }

    /// Polls until the port accepts a TCP connection, the child exits, or the timeout passes.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                let exited = child
                    .try_wait()
                    .map_err(|source| TestingError::TansuProcess {
                        operation: "check",
                        source,
                    })?;
                if let Some(status) = exited {
                    self.child = None;
                    return Err(TestingError::TansuExited {
                        port: self.port,
                        status,
                        log: self.log.clone(),
                    });
                }
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestingError::TansuNotReady {
                    port: self.port,
                    timeout: READY_TIMEOUT,
                    log: self.log.clone(),
                });
            }
            sleep(READY_POLL).await;
        }
    }
}

impl Drop for TansuProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Closing the pipe makes the supervisor kill the broker after STOP_GRACE; a thread
        // reaps the supervisor so no zombie is left behind. Nothing here blocks.
        drop(child.stdin.take());
        let reaper = std::thread::Builder::new()
            .name("tansu-reaper".to_owned())
            .spawn(move || child.wait());
        if let Err(error) = reaper {
            tracing::debug!(%error, "no reaper thread; the Tansu supervisor stays a zombie until exit");
        }
    }
}

/// Asks the OS for a free port on 127.0.0.1 and releases it for the broker to bind.
fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|source| TestingError::ReservePort { source })
}

/// Starts `tansu broker` on `port` (advertising `advertised`) as `launch` says under the supervisor, appending
/// its output to `log`.
fn spawn(binary: &Path, port: u16, advertised: u16, launch: &Launch, log: &Path) -> Result<Child> {
    let create_log = |source| TestingError::CreateLog {
        path: log.to_path_buf(),
        source,
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(create_log)?;
    }
    let stdout: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(create_log)?;
    let stderr = stdout.try_clone().map_err(create_log)?;
    let url = format!("tcp://127.0.0.1:{port}");
    let advertised = format!("tcp://127.0.0.1:{advertised}");
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", SUPERVISOR, "tansu-supervisor"])
        .arg(format!("{:.3}", STOP_GRACE.as_secs_f64()))
        .arg(binary)
        .arg("broker")
        .args([
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
        ])
        .args(["--storage-engine", launch.storage.as_str()])
        // Settings a developer may have exported for other tools must not leak in.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("SCHEMA_REGISTRY")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr);
    if launch.authentication {
        command.arg("--authentication");
    }
    if let Some(dir) = &launch.dir {
        command.current_dir(dir);
    }
    match std::env::var_os(TANSU_LOG_ENV) {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    command.spawn().map_err(|source| TestingError::SpawnTansu {
        binary: binary.to_path_buf(),
        source,
    })
}

/// `<cargo target dir>/tansu-logs/tansu-<pid>-<port>.log`; the system temp dir when the test
/// binary does not run from a cargo target dir.
fn log_path(port: u16) -> PathBuf {
    let file = format!("tansu-{}-{port}.log", std::process::id());
    target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("tansu-logs")
        .join(file)
}

/// The cargo target dir holding the running test binary: the nearest ancestor of the
/// executable that contains cargo's `CACHEDIR.TAG` marker.
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Environment variable naming a Tansu binary built with SQLite storage (`scripts/install-tansu-sasl.sh`).
pub(crate) const TANSU_SASL_BIN_ENV: &str = "TANSU_SASL_BIN";

/// Where `scripts/install-tansu-sasl.sh` puts that binary, relative to the repository root.
const INSTALLED_SASL_BINARY: &str = ".tools/tansu-sasl/bin/tansu";

/// The SQLite-capable binary: `$TANSU_SASL_BIN` when set and non-empty, else the installed one.
pub(crate) fn sasl_binary_path(tansu_bin: Option<OsString>) -> PathBuf {
    match tansu_bin {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => repository_root().join(INSTALLED_SASL_BINARY),
    }
}

/// A fresh directory for one broker's SQLite database: `<target dir>/tansu-sasl/<pid>-<n>`.
pub(crate) fn scratch_dir() -> Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("tansu-sasl")
        .join(format!("{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| TestingError::CreateLog {
            path: dir.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&dir).map_err(|source| TestingError::CreateLog {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Stores SCRAM-SHA-256 and SCRAM-SHA-512 credentials of each `(user, password)` through the open broker at
/// `port` (`tansu user create`, which speaks AlterUserScramCredentials).
pub(crate) async fn create_scram_users(
    binary: &Path,
    port: u16,
    users: &[(&str, &str)],
) -> Result<()> {
    for (user, password) in users {
        for mechanism in ["scram256", "scram512"] {
            let output = tokio::process::Command::new(binary)
                .args(["user", "create", user, password, "--mechanism", mechanism])
                .args(["--broker", &format!("tcp://127.0.0.1:{port}")])
                .env_remove("RUST_LOG")
                .output();
            let output = tokio::time::timeout(READY_TIMEOUT, output)
                .await
                .map_err(|_| TestingError::TansuUser {
                    user: (*user).to_owned(),
                    detail: format!("`tansu user create` took longer than {READY_TIMEOUT:?}"),
                })?
                .map_err(|source| TestingError::SpawnTansu {
                    binary: binary.to_path_buf(),
                    source,
                })?;
            if !output.status.success() {
                return Err(TestingError::TansuUser {
                    user: (*user).to_owned(),
                    detail: format!(
                        "`tansu user create --mechanism {mechanism}` exited with {}: {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                });
            }
        }
    }
    Ok(())
}
