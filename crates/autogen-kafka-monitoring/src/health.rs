//! Component health: components report `Up`/`Degraded`/`Down`, probes summarise.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Serialize, Serializer};

/// A component's health, from best to worst (`Up < Degraded < Down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working normally.
    Up,
    /// Working, with reduced capacity or quality (retrying, slow, partly connected).
    Degraded,
    /// Not working.
    Down,
}

impl HealthStatus {
    /// The status as written in health reports: `up`, `degraded` or `down`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which probes a component's status counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Criticality {
    /// Shown in reports, but never fails a probe (it can only make a summary `degraded`).
    Optional,
    /// Required for readiness: the process is ready only while it is `Up` (for example
    /// `kafka`, `schema_registry`). Broker trouble makes a process unready, not dead.
    Readiness,
    /// Required for readiness, and for liveness too: the process is not live while it is
    /// `Down` (for example the dispatch loop, `agents`: a stuck loop needs a restart).
    Liveness,
}

impl Criticality {
    const fn counts_for(self, probe: Probe) -> bool {
        match probe {
            Probe::Liveness => matches!(self, Self::Liveness),
            Probe::Readiness => matches!(self, Self::Readiness | Self::Liveness),
        }
    }
}

/// Which question a [`HealthReport`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Probe {
    /// Is the process alive (or should it be restarted)?
    Liveness,
    /// Is the process ready to do its work?
    Readiness,
}

/// The registry of component health checks for one process.
///
/// Components (`kafka`, `schema_registry`, `agents`, ...) register once and get a
/// [`ComponentHealth`] handle to report through. [`Health::liveness`] and
/// [`Health::readiness`] summarise the latest reports; the monitoring server serves them
/// on `/health/live` and `/health/ready`.
///
/// Cloning is cheap and every clone sees the same components. Reporting only takes a
/// short, uncontended lock on that one component (never across an `.await`), so it is
/// fine on hot paths.
///
/// A component registered with [`Health::register_heartbeat`] counts as `Down` once it
/// has not reported for longer than its limit, which catches stuck loops.
///
/// # Examples
///
/// ```
/// use autogen_kafka_monitoring::{Criticality, Health, HealthStatus};
///
/// let health = Health::new();
/// let kafka = health.register("kafka", Criticality::Readiness);
/// let registry = health.register("schema_registry", Criticality::Optional);
///
/// // A freshly registered component is down until it reports.
/// assert!(!health.readiness().is_healthy());
///
/// kafka.up();
/// registry.degraded("slow responses");
/// let ready = health.readiness();
/// assert!(ready.is_healthy());
/// assert_eq!(ready.status, HealthStatus::Degraded);
///
/// kafka.down("all brokers unreachable");
/// assert!(!health.readiness().is_healthy());
/// assert!(health.liveness().is_healthy()); // broker trouble is not a reason to restart
/// ```
#[derive(Clone, Default)]
pub struct Health {
    components: Arc<RwLock<BTreeMap<String, Arc<Slot>>>>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let components = self.read_components();
        f.debug_struct("Health")
            .field("components", &components.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Health {
    /// Creates an empty registry. With no components, both probes pass.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the component `name` (status `Down`, reason "no report yet") and returns
    /// the handle to report through.
    ///
    /// If `name` is already registered, this returns a handle to that component and its
    /// first registration's criticality and limits stay in force.
    pub fn register(&self, name: impl Into<String>, criticality: Criticality) -> ComponentHealth {
        self.insert(name.into(), criticality, None)
    }

    /// Registers the component `name` like [`Health::register`], and counts it as `Down`
    /// whenever its latest report is older than `stale_after`: the component is expected
    /// to report (typically [`ComponentHealth::up`]) at least that often.
    pub fn register_heartbeat(
        &self,
        name: impl Into<String>,
        criticality: Criticality,
        stale_after: Duration,
    ) -> ComponentHealth {
        self.insert(name.into(), criticality, Some(stale_after))
    }

    fn insert(
        &self,
        name: String,
        criticality: Criticality,
        stale_after: Option<Duration>,
    ) -> ComponentHealth {
        let mut components = self
            .components
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = components
            .entry(name)
            .or_insert_with_key(|name| {
                Arc::new(Slot {
                    name: name.clone(),
                    criticality,
                    stale_after,
                    state: Mutex::new(SlotState {
                        status: HealthStatus::Down,
                        reason: Some(Cow::Borrowed("no report yet")),
                        since: SystemTime::now(),
                        reported_at: Instant::now(),
                    }),
                })
            })
            .clone();
        ComponentHealth { slot }
    }

    /// Removes the component `name` from the reports (a component that stopped on
    /// purpose); returns whether it was registered. Its handles keep working but no
    /// longer affect the probes.
    pub fn deregister(&self, name: &str) -> bool {
        self.components
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .is_some()
    }

    /// A handle to the registered component `name`, if any.
    #[must_use]
    pub fn component(&self, name: &str) -> Option<ComponentHealth> {
        self.read_components()
            .get(name)
            .map(|slot| ComponentHealth { slot: slot.clone() })
    }

    /// Whether the process is alive: healthy unless a [`Criticality::Liveness`]
    /// component is `Down` (or stale).
    #[must_use]
    pub fn liveness(&self) -> HealthReport {
        self.report(Probe::Liveness)
    }

    /// Whether the process is ready: healthy only while every required
    /// ([`Criticality::Readiness`] or [`Criticality::Liveness`]) component is `Up`.
    #[must_use]
    pub fn readiness(&self) -> HealthReport {
        self.report(Probe::Readiness)
    }

    fn report(&self, probe: Probe) -> HealthReport {
        let now = Instant::now();
        let checked_at = SystemTime::now();
        let components: Vec<ComponentReport> = self
            .read_components()
            .values()
            .map(|slot| slot.snapshot(now, checked_at))
            .collect();
        let healthy = components
            .iter()
            .filter(|c| c.criticality.counts_for(probe))
            .all(|c| match probe {
                Probe::Liveness => c.status != HealthStatus::Down,
                Probe::Readiness => c.status == HealthStatus::Up,
            });
        let status = if !healthy {
            HealthStatus::Down
        } else if components.iter().all(|c| c.status == HealthStatus::Up) {
            HealthStatus::Up
        } else {
            HealthStatus::Degraded
        };
        HealthReport {
            probe,
            status,
            healthy,
            checked_at,
            components,
        }
    }

    fn read_components(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Slot>>> {
        self.components
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct Slot {
    name: String,
    criticality: Criticality,
    stale_after: Option<Duration>,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    status: HealthStatus,
    reason: Option<Cow<'static, str>>,
    /// When `status` last changed.
    since: SystemTime,
    /// When the component last reported (for heartbeat staleness).
    reported_at: Instant,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The component's effective state at `now`, staleness included.
    fn snapshot(&self, now: Instant, wall_now: SystemTime) -> ComponentReport {
        let state = self.lock();
        let silent_for = now.saturating_duration_since(state.reported_at);
        let (status, reason, since) = match self.stale_after {
            Some(limit) if silent_for > limit => (
                HealthStatus::Down,
                Some(format!(
                    "no report for {:.1}s (limit {:.1}s)",
                    silent_for.as_secs_f64(),
                    limit.as_secs_f64()
                )),
                wall_now
                    .checked_sub(silent_for.saturating_sub(limit))
                    .unwrap_or(wall_now),
            ),
            _ => (
                state.status,
                state.reason.as_deref().map(str::to_owned),
                state.since,
            ),
        };
        ComponentReport {
            name: self.name.clone(),
            status,
            criticality: self.criticality,
            reason,
            since,
        }
    }
}

/// The handle a component reports its health through; cheap to clone and to call.
///
/// Reports that repeat the current status and reason only refresh the heartbeat; a
/// change of status is logged (`warn` for `Down`, `info` otherwise).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_monitoring::{Criticality, Health, HealthStatus};
///
/// let health = Health::new();
/// let agents = health.register_heartbeat("agents", Criticality::Liveness, Duration::from_secs(30));
/// agents.up(); // call on every loop iteration
/// assert_eq!(agents.status(), HealthStatus::Up);
/// assert!(health.liveness().is_healthy());
/// ```
#[derive(Clone)]
pub struct ComponentHealth {
    slot: Arc<Slot>,
}

impl fmt::Debug for ComponentHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentHealth")
            .field("name", &self.slot.name)
            .field("criticality", &self.slot.criticality)
            .finish_non_exhaustive()
    }
}

impl ComponentHealth {
    /// The component's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The component's effective status now (a stale heartbeat reads as `Down`).
    #[must_use]
    pub fn status(&self) -> HealthStatus {
        self.slot.snapshot(Instant::now(), SystemTime::now()).status
    }

    /// Reports that the component works normally.
    pub fn up(&self) {
        self.report(HealthStatus::Up, None);
    }

    /// Reports that the component works with reduced capacity, and why.
    pub fn degraded(&self, reason: impl Into<Cow<'static, str>>) {
        self.report(HealthStatus::Degraded, Some(reason.into()));
    }

    /// Reports that the component does not work, and why.
    pub fn down(&self, reason: impl Into<Cow<'static, str>>) {
        self.report(HealthStatus::Down, Some(reason.into()));
    }

    /// Reports `status` with an optional reason.
    pub fn report(&self, status: HealthStatus, reason: Option<Cow<'static, str>>) {
        let (previous, reason) = {
            let mut state = self.slot.lock();
            state.reported_at = Instant::now();
            if state.status == status && state.reason == reason {
                return;
            }
            let previous = state.status;
            state.reason = reason;
            if previous == status {
                return;
            }
            state.status = status;
            state.since = SystemTime::now();
            // Logged after the lock is released.
            (previous, state.reason.clone())
        };
        let component = self.slot.name.as_str();
        let reason = reason.as_deref().unwrap_or("");
        match status {
            HealthStatus::Down => {
                tracing::warn!(component, %previous, %status, reason, "component health changed");
            }
            HealthStatus::Up | HealthStatus::Degraded => {
                tracing::info!(component, %previous, %status, reason, "component health changed");
            }
        }
    }
}

/// One component's entry in a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComponentReport {
    /// The component's name.
    pub name: String,
    /// Its effective status (a stale heartbeat reads as `Down`).
    pub status: HealthStatus,
    /// Which probes it counts for.
    pub criticality: Criticality,
    /// Why it is not `Up` (or `None`).
    pub reason: Option<String>,
    /// Since when it has had this status; RFC 3339 UTC in JSON.
    #[serde(serialize_with = "rfc3339")]
    pub since: SystemTime,
}

/// A probe's answer: the verdict, a summary status and every component's state.
///
/// `status` is `down` when the probe fails, `up` when every component (optional ones
/// included) is `Up`, and `degraded` otherwise. Serialised as the JSON body of
/// `/health/live` and `/health/ready`:
///
/// ```json
/// {"probe":"readiness","status":"down","healthy":false,"checked_at":"2026-11-25T10:00:00.000Z",
///  "components":[{"name":"kafka","status":"down","criticality":"readiness",
///                 "reason":"all brokers unreachable","since":"2026-11-25T09:59:58.120Z"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The probe answered.
    pub probe: Probe,
    /// The summary status.
    pub status: HealthStatus,
    /// Whether the probe passes (HTTP 200 rather than 503).
    pub healthy: bool,
    /// When the report was made; RFC 3339 UTC in JSON.
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: SystemTime,
    /// Every registered component, sorted by name.
    pub components: Vec<ComponentReport>,
}

impl HealthReport {
    /// Whether the probe passes.
    #[must_use]
    pub const fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// The entry of component `name`, if registered.
    #[must_use]
    pub fn component(&self, name: &str) -> Option<&ComponentReport> {
        self.components.iter().find(|c| c.name == name)
    }
}

fn rfc3339<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let time = chrono::DateTime::<chrono::Utc>::from(*time);
    serializer.collect_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests;
