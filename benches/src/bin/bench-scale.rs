//! `bench-scale`: the scale curves behind `just bench-scale`.
//!
//! On one broker (the embedded mock cluster unless `AUTOGEN_KAFKA_TEST_BROKER` or `KAFKA_BOOTSTRAP_SERVERS` choose
//! another) it measures a host's memory and first-message latency against the distinct agent ids it served, with
//! and without passivation, and its CPU and the broker's against the agent types it hosts
//! ([`autogen_kafka_bench::scale`]). It writes `scale.json`, PNG charts and `scale.md` into `--out` (default
//! `target/bench`) and prints the Markdown. `--quick` is a smoke run. Build it in release mode:
//! `scripts/bench-scale.sh` does.
#![expect(clippy::print_stdout, reason = "the driver prints the results table")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autogen_kafka_bench::plot::{self, Chart, Line};
use autogen_kafka_bench::scale::{self, ScaleEnvironment, ScalePlan, ScaleReport};
use autogen_kafka_bench::suite::chain;
use autogen_kafka_testing::TestBroker;
use clap::Parser;

/// Measures how a host's cost grows with agent ids and agent types.
#[derive(Debug, Parser)]
#[command(name = "bench-scale")]
struct Args {
    /// Directory for scale.json, scale.md, the charts and host logs.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Small counts: a smoke run, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Serve at most this many distinct agent ids (the last checkpoint).
    #[arg(long)]
    max_ids: Option<u64>,
    /// Skip the agent types series.
    #[arg(long)]
    skip_types: bool,
    /// Skip the agent ids series.
    #[arg(long)]
    skip_ids: bool,
    /// Skip the runtimes series.
    #[arg(long)]
    skip_runtimes: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,autogen_kafka_bench=info,bench_scale=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args).await {
        Ok(markdown) => {
            println!("{markdown}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %chain(error.as_ref()), "bench-scale failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let worker_exe = std::env::current_exe()?.with_file_name("bench-worker");
    if !worker_exe.is_file() {
        return Err(format!("{} is not built", worker_exe.display()).into());
    }
    let log_dir = args.out.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let env = ScaleEnvironment {
        worker_exe,
        log_dir,
    };
    let broker = TestBroker::start().await?;
    let mut plan = ScalePlan::new(args.quick);
    if let Some(max) = args.max_ids {
        plan.checkpoints.retain(|&ids| ids < max);
        plan.checkpoints.push(max);
    }
    if args.skip_types {
        plan.types.clear();
    }
    if args.skip_ids {
        plan.checkpoints.clear();
    }
    if args.skip_runtimes {
        plan.runtimes = 0;
    }
    let mut report = scale::run(&broker, &plan, &env).await;
    if let Err(error) = broker.shutdown().await {
        tracing::warn!(error = %chain(&error), "broker did not shut down cleanly");
    }
    draw_charts(&mut report, &args.out);
    let json = scale::write_json(std::slice::from_ref(&report), &args.out)?;
    let markdown = scale::markdown(&report);
    std::fs::write(args.out.join("scale.md"), &markdown)?;
    tracing::info!(json = %json.display(), "written");
    Ok(markdown)
}

fn draw_charts(report: &mut ScaleReport, out: &Path) {
    if !plot::load_font() {
        report.notes.push(
            "no TrueType font found (install fonts-dejavu-core): charts not drawn".to_owned(),
        );
        return;
    }
    let broker = report.broker.clone();
    let mut charts = vec![
        Chart {
            file: "scale-rss.png".to_owned(),
            title: format!("Host memory vs distinct agent ids ({broker})"),
            x_label: "distinct agent ids served".to_owned(),
            y_label: "RSS (MiB)".to_owned(),
            lines: report
                .ids
                .iter()
                .map(|s| Line {
                    label: scale::series_label(s),
                    points: std::iter::once((0.0, s.start_rss_mib))
                        .chain(s.points.iter().map(|p| (p.ids as f64, p.rss_mib)))
                        .collect(),
                })
                .collect(),
        },
        Chart {
            file: "scale-first-message.png".to_owned(),
            title: format!("First-message RPC latency vs distinct agent ids ({broker})"),
            x_label: "distinct agent ids served".to_owned(),
            y_label: "p50 of the step's first messages (ms)".to_owned(),
            lines: report
                .ids
                .iter()
                .map(|s| Line {
                    label: scale::series_label(s),
                    points: s
                        .points
                        .iter()
                        .map(|p| (p.ids as f64, p.first_message.p50_ms))
                        .collect(),
                })
                .collect(),
        },
    ];
    if !report.types.is_empty() {
        let series =
            |name: &str, per_type: bool, value: &dyn Fn(&scale::TypesPoint) -> Option<f64>| Line {
                label: format!(
                    "{name}{}",
                    if per_type {
                        ", topic per type"
                    } else {
                        ", shared topic"
                    }
                ),
                points: report
                    .types
                    .iter()
                    .filter(|t| t.per_type_topics == per_type)
                    .filter_map(|t| value(t).map(|v| (t.types as f64, v)))
                    .collect(),
            };
        charts.push(Chart {
            file: "scale-types.png".to_owned(),
            title: format!("Cost vs agent types hosted, one loaded ({broker})"),
            x_label: "agent types hosted".to_owned(),
            y_label: "see legend".to_owned(),
            lines: [false, true]
                .into_iter()
                .flat_map(|per_type| {
                    [
                        series("host CPU ms per 1k RPCs", per_type, &|t| {
                            Some(t.host_cpu_ms_per_1k_rpcs)
                        }),
                        series("broker CPU % under load", per_type, &|t| {
                            t.load_broker_cpu_percent
                        }),
                    ]
                })
                .filter(|line| !line.points.is_empty())
                .collect(),
        });
    }
    if !report.runtimes.is_empty() {
        let points = |value: &dyn Fn(&scale::RuntimesPoint) -> f64| {
            report
                .runtimes
                .iter()
                .map(|r| (r.runtimes as f64, value(r)))
                .collect()
        };
        charts.push(Chart {
            file: "scale-runtimes.png".to_owned(),
            title: format!("Idle fleet vs runtime processes, one agent type ({broker})"),
            x_label: "runtime processes".to_owned(),
            y_label: "see legend".to_owned(),
            lines: vec![
                Line {
                    label: "registry + directory records/s".to_owned(),
                    points: points(&|r| r.registry_records_per_s),
                },
                Line {
                    label: "start() of the last one (s) x 10".to_owned(),
                    points: points(&|r| r.start_ms / 100.0),
                },
                Line {
                    label: "broker CPU %".to_owned(),
                    points: points(&|r| r.broker_cpu_percent.unwrap_or(0.0)),
                },
            ],
        });
    }
    for chart in &charts {
        match plot::draw(chart, out) {
            Ok(path) => tracing::info!(chart = %path.display(), "drawn"),
            Err(error) => {
                report
                    .notes
                    .push(format!("chart {} not drawn: {}", chart.file, chain(&error)));
            }
        }
    }
}
