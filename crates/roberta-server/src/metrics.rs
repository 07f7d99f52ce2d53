//! `GET /metrics`: Prometheus' text format, with TEI's `te_` prefix: requests by route and status, the queue,
//! batch sizes in tokens and in requests, queue and inference time, tokens processed.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// A histogram with fixed upper bounds (`le`), cumulative when rendered.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Histogram {
        Histogram { bounds: bounds.to_vec(), counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }
    fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c;
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}", self.count, self.sum, self.count);
    }
}

#[derive(Debug)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    tokens: u64,
    inputs: u64,
    batches: u64,
    batch_tokens: Histogram,
    batch_requests: Histogram,
    inference: Histogram,
    queue: Histogram,
}

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

const SECONDS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        let pow2 = |n: u32| (0..n).map(|i| f64::from(1u32 << i)).collect::<Vec<_>>();
        Metrics {
            inner: Mutex::new(Inner {
                requests: BTreeMap::new(),
                tokens: 0,
                inputs: 0,
                batches: 0,
                batch_tokens: Histogram::new(&pow2(18)),
                batch_requests: Histogram::new(&pow2(11)),
                inference: Histogram::new(&SECONDS),
                queue: Histogram::new(&SECONDS),
            }),
        }
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One answered request.
    pub fn request(&self, route: &str, status: u16) {
        *self.lock().requests.entry((route.to_string(), status)).or_default() += 1;
    }

    /// One forward pass of `requests` requests, `inputs` texts and `tokens` tokens, taking `seconds`.
    pub fn batch(&self, requests: usize, inputs: usize, tokens: usize, seconds: f64) {
        let mut m = self.lock();
        m.batches += 1;
        m.tokens += tokens as u64;
        m.inputs += inputs as u64;
        m.batch_tokens.observe(tokens as f64);
        m.batch_requests.observe(requests as f64);
        m.inference.observe(seconds);
    }

    /// The time one request waited in the queue.
    pub fn queued(&self, seconds: f64) {
        self.lock().queue.observe(seconds);
    }

    /// The text format, with the queue's current size.
    pub fn render(&self, queue_size: usize) -> String {
        let m = self.lock();
        let mut out = String::new();
        let _ = writeln!(out, "# HELP te_request_count Requests answered, by route and status\n# TYPE te_request_count counter");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(out, "te_request_count{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP te_queue_size Requests queued or running\n# TYPE te_queue_size gauge\nte_queue_size {queue_size}");
        let _ = writeln!(out, "# HELP te_tokens_total Tokens run through the model\n# TYPE te_tokens_total counter\nte_tokens_total {}", m.tokens);
        let _ = writeln!(out, "# HELP te_inputs_total Inputs (texts) run through the model\n# TYPE te_inputs_total counter\nte_inputs_total {}", m.inputs);
        let _ = writeln!(out, "# HELP te_batch_count Forward passes\n# TYPE te_batch_count counter\nte_batch_count {}", m.batches);
        m.batch_tokens.render(&mut out, "te_batch_next_tokens", "Tokens per forward pass");
        m.batch_requests.render(&mut out, "te_batch_next_size", "Requests per forward pass");
        m.inference.render(&mut out, "te_batch_inference_duration", "Seconds per forward pass");
        m.queue.render(&mut out, "te_request_queue_duration", "Seconds a request waited before its forward pass");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let m = Metrics::default();
        m.request("/embed", 200);
        m.request("/embed", 200);
        m.request("/ner", 413);
        m.batch(3, 4, 40, 0.003);
        m.queued(0.0007);
        let t = m.render(2);
        assert!(t.contains("te_request_count{route=\"/embed\",status=\"200\"} 2\n"), "{t}");
        assert!(t.contains("te_request_count{route=\"/ner\",status=\"413\"} 1\n"));
        assert!(t.contains("te_queue_size 2\n") && t.contains("te_tokens_total 40\n") && t.contains("te_inputs_total 4\n"));
        assert!(t.contains("te_batch_next_tokens_bucket{le=\"32\"} 0\n") && t.contains("te_batch_next_tokens_bucket{le=\"64\"} 1\n"));
        assert!(t.contains("te_batch_next_size_bucket{le=\"4\"} 1\n") && t.contains("te_batch_next_size_count 1\n"));
        assert!(t.contains("te_request_queue_duration_bucket{le=\"0.001\"} 1\n"));
    }
}
