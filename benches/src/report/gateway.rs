//! The gateway benchmark's figures: A2A calls through the gateway next to the same calls as direct RPCs.

use std::fmt::Write as _;

use serde::Serialize;

use super::{ThroughputRun, ms, opt, times};
use crate::stats::{LatencySummary, ratio, round3};

/// What the A2A gateway costs per call: one agent type called directly through a runtime and through the gateway
/// over HTTP, in the same run, by the same caller runtime, to the same callee runtime and agent ids.
///
/// The direct call is `send_with` of an `A2aRequest` from the caller runtime; the gateway call is a JSON-RPC
/// `SendMessage` (blocking) over a keep-alive HTTP/1.1 connection to a gateway served by the driver on
/// 127.0.0.1, whose runtime is that caller. Both runtimes run in the driver process. A gateway call counts as
/// failed unless it gets HTTP 200 and a task in `TASK_STATE_COMPLETED` whose artifact echoes the text sent.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayReport {
    /// The agent type called (it answers an `A2aRequest` with its text).
    pub agent_type: String,
    /// Distinct agent ids the calls spread over: call `n` goes to `<type>/k<n mod keys>`, as A2A context id
    /// `k<n mod keys>` through the gateway.
    pub keys: u64,
    /// Bytes of padding in every call's text, after the call's number (`<n>:`); the agent echoes the text back.
    pub text_bytes: usize,
    /// Latency of the direct RPC, one call in flight.
    pub direct_latency: LatencySummary,
    /// Latency through the gateway, one call in flight (measured in rounds alternating with the direct ones).
    pub gateway_latency: LatencySummary,
    /// Failed direct calls in the latency rounds.
    pub direct_errors: u64,
    /// Failed gateway calls in the latency rounds.
    pub gateway_errors: u64,
    /// The first failure of the latency rounds, either side.
    pub first_error: Option<String>,
    /// `gateway / direct` at p50.
    pub ratio_p50: Option<f64>,
    /// `gateway / direct` at p99.
    pub ratio_p99: Option<f64>,
    /// `gateway − direct` at p50, ms: what the gateway adds to one call.
    pub added_p50_ms: f64,
    /// `gateway − direct` at p99, ms.
    pub added_p99_ms: f64,
    /// Throughput at each in-flight level.
    pub throughput: Vec<GatewayThroughput>,
}

/// Direct RPC against the gateway at one in-flight level. In these runs `caller_cpu_ms_per_1k` is the CPU of the
/// whole driver process (HTTP client, gateway, caller and callee runtimes) without the mock cluster's thread.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayThroughput {
    /// Calls in flight (closed loop).
    pub in_flight: usize,
    /// The direct RPC.
    pub direct: ThroughputRun,
    /// Through the gateway, one HTTP/1.1 connection per call in flight.
    pub gateway: ThroughputRun,
    /// `gateway / direct` calls per second.
    pub ratio: Option<f64>,
    /// `gateway − direct` driver CPU per 1,000 calls, ms: what the gateway and the HTTP client cost.
    pub added_cpu_ms_per_1k: Option<f64>,
}

impl GatewayReport {
    /// The report of both sides' latency rounds, with ratios and differences filled in.
    #[must_use]
    pub fn new(
        agent_type: &str,
        keys: u64,
        text_bytes: usize,
        direct: (LatencySummary, u64),
        gateway: (LatencySummary, u64),
        first_error: Option<String>,
    ) -> Self {
        let (direct_latency, direct_errors) = direct;
        let (gateway_latency, gateway_errors) = gateway;
        Self {
            agent_type: agent_type.to_owned(),
            keys,
            text_bytes,
            direct_latency,
            gateway_latency,
            direct_errors,
            gateway_errors,
            first_error,
            ratio_p50: ratio(gateway_latency.p50_ms, direct_latency.p50_ms).map(round3),
            ratio_p99: ratio(gateway_latency.p99_ms, direct_latency.p99_ms).map(round3),
            added_p50_ms: round3(gateway_latency.p50_ms - direct_latency.p50_ms),
            added_p99_ms: round3(gateway_latency.p99_ms - direct_latency.p99_ms),
            throughput: Vec::new(),
        }
    }

    /// The table of the gateway benchmark.
    pub(super) fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "A2A gateway against a direct RPC: `{}` in a runtime of the driver process, called by another runtime \
             directly and through the gateway (JSON-RPC `SendMessage` over keep-alive HTTP/1.1 on 127.0.0.1), {} \
             context ids, text of {} B of padding.\n",
            self.agent_type, self.keys, self.text_bytes
        );
        let _ = writeln!(
            out,
            "| Figure | Direct RPC | Through the gateway | Gateway / direct |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        let (d, g) = (&self.direct_latency, &self.gateway_latency);
        let errors = |direct: u64, gateway: u64| {
            if direct + gateway > 0 {
                format!(", errors {direct} / {gateway}")
            } else {
                String::new()
            }
        };
        for (name, direct, gateway, r, added) in [
            ("p50", d.p50_ms, g.p50_ms, self.ratio_p50, self.added_p50_ms),
            ("p99", d.p99_ms, g.p99_ms, self.ratio_p99, self.added_p99_ms),
        ] {
            let _ = writeln!(
                out,
                "| Latency {name}, 1 in flight ({} / {} samples{}) | {} | {} | {} ({added:+.2} ms) |",
                d.samples,
                g.samples,
                errors(self.direct_errors, self.gateway_errors),
                ms(direct),
                ms(gateway),
                times(r),
            );
        }
        for t in &self.throughput {
            let _ = writeln!(
                out,
                "| Throughput, {} in flight | {} | {} | {} |",
                t.in_flight,
                t.direct.describe(),
                t.gateway.describe(),
                times(t.ratio),
            );
        }
        for t in &self.throughput {
            let _ = writeln!(
                out,
                "| Driver CPU per 1,000 calls, {} in flight | {} | {} | {} |",
                t.in_flight,
                opt(t.direct.caller_cpu_ms_per_1k, ms),
                opt(t.gateway.caller_cpu_ms_per_1k, ms),
                opt(t.added_cpu_ms_per_1k, |v| format!("{v:+.0} ms")),
            );
        }
        let _ = writeln!(out);
    }
}

impl GatewayThroughput {
    /// Both sides' (median) runs at `in_flight`, compared.
    #[must_use]
    pub fn new(in_flight: usize, direct: ThroughputRun, gateway: ThroughputRun) -> Self {
        let added_cpu_ms_per_1k = match (direct.caller_cpu_ms_per_1k, gateway.caller_cpu_ms_per_1k)
        {
            (Some(d), Some(g)) => Some(round3(g - d)),
            _ => None,
        };
        Self {
            in_flight,
            ratio: ratio(gateway.ops_per_second, direct.ops_per_second).map(round3),
            added_cpu_ms_per_1k,
            direct,
            gateway,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p50_ms: f64, p99_ms: f64) -> LatencySummary {
        LatencySummary {
            samples: 10,
            p50_ms,
            p90_ms: p99_ms,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            mean_ms: p50_ms,
        }
    }

    fn run(ops_per_second: f64, cpu: f64) -> ThroughputRun {
        ThroughputRun {
            ops_per_second,
            caller_cpu_ms_per_1k: Some(cpu),
            all_ops_per_second: vec![ops_per_second],
            ..ThroughputRun::default()
        }
    }

    #[test]
    fn the_gateway_is_compared_with_the_direct_rpc() {
        let mut report = GatewayReport::new(
            "a2a_echo",
            1024,
            100,
            (summary(10.0, 20.0), 0),
            (summary(12.5, 30.0), 1),
            Some("HTTP 500".to_owned()),
        );
        report.throughput.push(GatewayThroughput::new(
            64,
            run(4000.0, 100.0),
            run(3000.0, 160.0),
        ));
        assert_eq!(report.ratio_p50, Some(1.25));
        assert_eq!(report.added_p50_ms, 2.5);
        assert_eq!(report.ratio_p99, Some(1.5));
        assert_eq!(report.throughput[0].ratio, Some(0.75));
        assert_eq!(report.throughput[0].added_cpu_ms_per_1k, Some(60.0));
        let mut markdown = String::new();
        report.markdown(&mut markdown);
        assert!(
            markdown.contains(
                "| Latency p50, 1 in flight (10 / 10 samples, errors 0 / 1) | 10.00 ms | 12.50 ms | 1.25× (+2.50 ms) |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| Throughput, 64 in flight | 4000/s"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| Driver CPU per 1,000 calls, 64 in flight | 100 ms | 160 ms | +60 ms |"
            ),
            "{markdown}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["throughput"][0]["in_flight"], 64);
        assert_eq!(json["gateway_errors"], 1);
    }
}
