//! `bench-host-jemalloc <settings json> <fleet> <group> <name> <types> <idle ms>`: the scale benchmark's host
//! ([`autogen_kafka_bench::host`]) with jemalloc as the global allocator, to tell memory the runtime still holds
//! from memory glibc's allocator keeps after it was freed.

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes jemalloc handed out and did not get back.
fn allocated() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .and_then(|bytes| u64::try_from(bytes).ok())
}

#[tokio::main]
async fn main() -> ExitCode {
    autogen_kafka_bench::host::init_logging();
    // Freed memory goes back to the system after jemalloc's decay time even while the host idles.
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc background threads not enabled");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match autogen_kafka_bench::host::run(&args, Some(allocated)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %autogen_kafka_bench::suite::chain(&error), "bench-host-jemalloc failed");
            ExitCode::FAILURE
        }
    }
}
