//! `bench-host-glibc <settings json> <fleet> <group> <name> <types> <idle ms>`: the scale benchmark's host
//! ([`autogen_kafka_bench::host`]) on the system allocator (glibc's malloc), beside `bench-host-jemalloc`: the
//! scale benchmark measures what each allocator keeps. Every other benchmark process runs on jemalloc.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    autogen_kafka_bench::host::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match autogen_kafka_bench::host::run(&args, None).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %autogen_kafka_bench::suite::chain(&error), "bench-host-glibc failed");
            ExitCode::FAILURE
        }
    }
}
