//! Apache Kafka in a Docker container, started through Testcontainers (crate feature
//! `kafka-container`).
//!
//! Before anything is created the Docker engine that Testcontainers would use gets a `_ping`
//! with a short timeout, so a machine without an engine fails fast with
//! [`TestingError::DockerUnavailable`](crate::TestingError::DockerUnavailable) instead of waiting for a connect or pull timeout.
//!
//! Teardown: `KafkaContainer::remove` force-removes the container. Dropping a
//! `KafkaContainer` hands it to a reaper thread that asks the engine to stop it with a
//! `STOP_GRACE` timeout and removes it afterwards. The module's entry point is a `bash`
//! running as PID 1, which the kernel shields from `SIGTERM`, so the broker keeps serving until
//! the engine sends `SIGKILL` at the end of the timeout. The engine carries out a stop request
//! even when the client disconnects (Docker 25 and later), and the container is created with
//! auto-remove: once the request has reached the engine, the container goes away even if the
//! test process exits right after the drop. Drop therefore blocks only until the stop request
//! has been in flight for `HANDOFF`.
//!
//! Without the feature only the documentation of this arrangement is compiled; the fixture
//! answers [`TestingError::KafkaContainerFeatureOff`](crate::TestingError::KafkaContainerFeatureOff).

#[cfg(feature = "kafka-container")]
use std::time::Duration;

#[cfg(feature = "kafka-container")]
use testcontainers::bollard::Docker;
#[cfg(feature = "kafka-container")]
use testcontainers::core::client::docker_client_instance;
#[cfg(feature = "kafka-container")]
use testcontainers::runners::AsyncRunner;
#[cfg(feature = "kafka-container")]
use testcontainers::{ContainerAsync, Image, ImageExt};
#[cfg(feature = "kafka-container")]
use testcontainers_modules::kafka::apache::{KAFKA_PORT, Kafka};

#[cfg(feature = "kafka-container")]
use super::STOP_GRACE;
#[cfg(feature = "kafka-container")]
use crate::error::{Result, TestingError};

/// How long the Docker engine may take to answer the first `_ping`.
#[cfg(feature = "kafka-container")]
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the container may take to become ready once created (the image pull comes on top).
#[cfg(feature = "kafka-container")]
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a stop request must have been in flight before a dropping thread moves on.
#[cfg(feature = "kafka-container")]
const HANDOFF: Duration = Duration::from_millis(200);

/// The longest a drop waits for the reaper thread to report the hand-off.
#[cfg(feature = "kafka-container")]
const HANDOFF_LIMIT: Duration = Duration::from_secs(2);

/// The label every container carries; its value is the test process id.
#[cfg(feature = "kafka-container")]
pub(crate) const PID_LABEL: &str = "org.autogen-kafka.testing.pid";

/// Broker settings (as the image's `KAFKA_*` environment) on top of the module's defaults:
/// a single node needs replication factor 1 for the transaction log too, and tests should not
/// wait for the first group join.
#[cfg(feature = "kafka-container")]
const BROKER_ENV: [(&str, &str); 3] = [
    ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
    ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
    ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
];

/// A running Kafka container. Stopped [`STOP_GRACE`] after drop; removed at once by
/// [`remove`](Self::remove).
#[cfg(feature = "kafka-container")]
#[derive(Debug)]
pub(crate) struct KafkaContainer {
    container: Option<ContainerAsync<Kafka>>,
    container_id: String,
    port: u16,
}

#[cfg(feature = "kafka-container")]
impl KafkaContainer {
    /// Pings the Docker engine, then starts the container and waits until Kafka is ready.
    pub(crate) async fn start() -> Result<Self> {
        // One budget for setting up the client and the ping.
        let started = tokio::time::Instant::now();
        let docker = connect(PROBE_TIMEOUT).await?;
        probe(&docker, PROBE_TIMEOUT.saturating_sub(started.elapsed())).await?;

        let image = Kafka::default();
        let image_name = format!("{}:{}", image.name(), image.tag());
        let start_error = |source| TestingError::StartKafkaContainer {
            image: image_name.clone(),
            source: Box::new(source),
        };
        let mut request = image
            .with_label(PID_LABEL, std::process::id().to_string())
            .with_startup_timeout(STARTUP_TIMEOUT)
            .with_host_config_modifier(|config| config.auto_remove = Some(true));
        for (name, value) in BROKER_ENV {
            request = request.with_env_var(name, value);
        }
        tracing::debug!(image = %image_name, "starting the Kafka container");
        let container = request.start().await.map_err(start_error)?;
        let container_id = container.id().to_owned();
        // On failure the container is dropped here, which removes it.
        let port = container
            .get_host_port_ipv4(KAFKA_PORT)
            .await
            .map_err(start_error)?;
        tracing::debug!(%container_id, port, "Kafka container ready");
        Ok(Self {
            container: Some(container),
            container_id,
            port,
        })
    }

    /// `127.0.0.1:<mapped port>`, the address the broker advertises.
    pub(crate) fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Force-removes the container now (the broker is killed) and waits for the engine.
    pub(crate) async fn remove(mut self) -> Result<()> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        container
            .rm()
            .await
            .map_err(|source| TestingError::StopKafkaContainer {
                container_id: self.container_id.clone(),
                source: Box::new(source),
            })
    }
}

#[cfg(feature = "kafka-container")]
impl Drop for KafkaContainer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        let (handed_off, handoff) = std::sync::mpsc::sync_channel::<()>(1);
        let (give, take) = std::sync::mpsc::sync_channel::<ContainerAsync<Kafka>>(1);
        let reaper = std::thread::Builder::new()
            .name("kafka-container-reaper".to_owned())
            .spawn(move || {
                if let Ok(container) = take.recv() {
                    retire_on_own_runtime(container, &handed_off);
                }
            });
        if let Err(error) = reaper {
            tracing::warn!(%error, container_id = %self.container_id, "no reaper thread; removing the Kafka container at once");
            remove_now(container);
            return;
        }
        if let Err(std::sync::mpsc::SendError(container)) = give.send(container) {
            remove_now(container);
            return;
        }
        if handoff.recv_timeout(HANDOFF_LIMIT).is_err() {
            tracing::debug!(container_id = %self.container_id, "stop request not confirmed in flight; moving on");
        }
    }
}

/// Connects a client to the engine Testcontainers would use (no request is sent yet).
#[cfg(feature = "kafka-container")]
async fn connect(limit: Duration) -> Result<Docker> {
    match tokio::time::timeout(limit, docker_client_instance()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(source)) => Err(TestingError::DockerUnavailable {
            reason: "no Docker client could be set up (no engine socket, or an unusable \
                     DOCKER_HOST)"
                .to_owned(),
            source: Some(Box::new(source)),
        }),
        Err(_) => Err(TestingError::DockerUnavailable {
            reason: format!("configuring the Docker client took longer than {limit:?}"),
            source: None,
        }),
    }
}

/// Sends `GET /_ping`; any answer other than success within `limit` means no usable engine.
#[cfg(feature = "kafka-container")]
pub(crate) async fn probe(docker: &Docker, limit: Duration) -> Result<()> {
    match tokio::time::timeout(limit, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(TestingError::DockerUnavailable {
            reason: "the Docker engine did not answer a ping".to_owned(),
            source: Some(Box::new(source)),
        }),
        Err(_) => Err(TestingError::DockerUnavailable {
            reason: format!("the Docker engine did not answer a ping within {limit:?}"),
            source: None,
        }),
    }
}

/// The reaper thread's body: a runtime of its own (Testcontainers needs one even to drop a
/// container), then [`retire`].
#[cfg(feature = "kafka-container")]
fn retire_on_own_runtime(
    container: ContainerAsync<Kafka>,
    handed_off: &std::sync::mpsc::SyncSender<()>,
) {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(retire(container, handed_off)),
        Err(error) => {
            tracing::warn!(%error, container_id = %container.id(), "no runtime to stop the Kafka container; it keeps running");
            // Dropping it outside a runtime would panic inside Testcontainers.
            let _leaked = std::mem::ManuallyDrop::new(container);
        }
    }
}

/// Stops the container with the grace period as timeout, reports the hand-off once the request
/// has been in flight for [`HANDOFF`] (or has finished), then removes what is left.
#[cfg(feature = "kafka-container")]
async fn retire(container: ContainerAsync<Kafka>, handed_off: &std::sync::mpsc::SyncSender<()>) {
    let grace_seconds = i32::try_from(STOP_GRACE.as_secs()).unwrap_or(i32::MAX);
    let stopped = {
        let stop = container.stop_with_timeout(Some(grace_seconds));
        tokio::pin!(stop);
        tokio::select! {
            stopped = &mut stop => stopped,
            () = tokio::time::sleep(HANDOFF) => {
                // The dropping thread may have given up waiting; nobody to tell then.
                let _ = handed_off.try_send(());
                stop.await
            }
        }
    };
    let _ = handed_off.try_send(());
    let container_id = container.id().to_owned();
    if let Err(error) = stopped {
        tracing::debug!(%error, %container_id, "stopping the Kafka container failed; removing it");
    }
    // Auto-remove usually got there first; a failed removal is then expected.
    if let Err(error) = container.rm().await {
        tracing::debug!(%error, %container_id, "Kafka container already gone");
    }
}

/// Removes the container from the dropping thread: through Testcontainers' own drop when a
/// runtime is current, else on a runtime built for the purpose.
#[cfg(feature = "kafka-container")]
fn remove_now(container: ContainerAsync<Kafka>) {
    if tokio::runtime::Handle::try_current().is_ok() {
        drop(container);
        return;
    }
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let container_id = container.id().to_owned();
            if let Err(error) = runtime.block_on(container.rm()) {
                tracing::warn!(%error, %container_id, "could not remove the Kafka container");
            }
        }
        Err(error) => {
            tracing::warn!(%error, container_id = %container.id(), "no runtime to remove the Kafka container; it keeps running");
            let _leaked = std::mem::ManuallyDrop::new(container);
        }
    }
}

#[cfg(test)]
mod tests;
