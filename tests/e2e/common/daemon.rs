//! A `weir run` process whose log is watched: tests wait for a line, signal it
//! (SIGKILL, SIGSTOP, SIGCONT) and ask its admin API.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// `127.0.0.1:PORT` when started with an admin API.
    pub admin: Option<String>,
}

/// A test that fails mid-way must not leave its daemon running.
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// Starts the daemon with info logs on stderr, echoed to the test's stderr with
    /// `tag` in front when `tag` is set.
    pub fn start(mut cmd: Command, tag: Option<&str>) -> Self {
        let mut child = cmd
            .env(
                "WEIR_LOG",
                std::env::var("TEST_WEIR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let tag = tag.map(str::to_string);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(t) = &tag {
                    eprintln!("[{t}] {line}");
                }
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            admin: None,
        }
    }

    /// Starts the daemon with its admin API on a free port.
    pub fn with_admin(mut cmd: Command, tag: &str) -> Self {
        let admin = format!("127.0.0.1:{}", super::free_port());
        cmd.args(["--admin-listen", &admin]);
        let mut daemon = Self::start(cmd, Some(tag));
        let port: u16 = admin.rsplit(':').next().unwrap().parse().unwrap();
        super::wait_for_port(port, "the admin API");
        daemon.admin = Some(admin);
        daemon
    }

    /// Waits for a log line containing `needle`; false when the time runs out or the
    /// daemon's log ends first.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_any(&[needle], timeout).is_some()
    }

    /// Waits for a log line containing any of `needles`; the line, or `None` when the
    /// time runs out or the daemon's log ends first.
    pub fn wait_for_any(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if needles.iter().any(|n| line.contains(n)) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Kills the daemon with SIGKILL; returns whether it was still running.
    pub fn kill(mut self) -> bool {
        let alive = !self.exited();
        if alive {
            self.child.kill().unwrap();
        }
        self.child.wait().unwrap();
        alive
    }

    /// Stops the daemon with SIGTERM and waits for it; its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// GET on the admin API: the response body.
    pub fn get(&self, path: &str) -> String {
        http_get(
            self.admin.as_ref().expect("started with an admin API"),
            path,
        )
    }

    /// `/pipelines/{name}` as JSON.
    pub fn pipeline(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.get(&format!("/pipelines/{name}"))).unwrap()
    }

    /// Conditional writes of the pipeline's state made so far.
    pub fn state_puts(&self, pipeline: &str) -> f64 {
        self.metric(&format!(
            "weir_object_store_requests_total{{pipeline=\"{pipeline}\",operation=\"state_put\",outcome=\"ok\"}}"
        ))
    }

    /// Buffers flushed so far, for every reason.
    pub fn flushes(&self, pipeline: &str) -> f64 {
        let reasons = [
            "interval", "idle", "size", "count", "memory", "shutdown", "replay", "release",
        ];
        reasons
            .iter()
            .map(|r| {
                self.metric(&format!(
                    "weir_flushes_total{{pipeline=\"{pipeline}\",reason=\"{r}\"}}"
                ))
            })
            .sum()
    }

    /// The value of one sample in `/metrics` (0 when absent).
    pub fn metric(&self, sample: &str) -> f64 {
        self.get("/metrics")
            .lines()
            .filter_map(|l| l.strip_prefix(sample)?.trim().parse::<f64>().ok())
            .sum()
    }
}

/// The body of a plain HTTP GET of `path` on `host:port`.
pub fn http_get(admin: &str, path: &str) -> String {
    http_request(admin, "GET", path)
}

/// The body of the answer to a POST of a JSON `body`.
pub fn http_post_json(host: &str, path: &str, body: &str) -> String {
    exchange(host, "POST", path, body)
}

/// The body of the answer to a request without a body.
pub fn http_request(admin: &str, method: &str, path: &str) -> String {
    exchange(admin, method, path, "")
}

/// One HTTP/1.1 request (a JSON body when not empty); the answer's body.
fn exchange(host: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or(("", ""));
    body.to_string()
}
