//! A `glasshouse serve` child process on loopback: how long it takes to listen, and its memory.
//! A child, not a server in this process, so that start-up and resident memory are a node's own.

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to listen, or to stop, before the benchmark gives up on it.
const PATIENCE: Duration = Duration::from_secs(600);

pub struct Node {
    child: Option<Child>,
    /// Where it listens.
    pub address: SocketAddr,
    /// From the process's spawn to its "listening" line (the pipeline opened, the port bound).
    pub started_in: Duration,
}

impl Node {
    /// Starts a server on `data_dir`; its log goes to `log`.
    pub fn start(data_dir: &Path, log: &Path) -> anyhow::Result<Node> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()))?;
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting glasshouse serve")?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut node = Node { child: Some(child), address: SocketAddr::from(([127, 0, 0, 1], 0)), started_in: Duration::ZERO };
        loop {
            let line = lines.next().context("the server stopped before it listened (see its log)")??;
            if let Some(address) = line.strip_prefix("glasshouse listening on http://") {
                node.started_in = started.elapsed();
                node.address = address.trim().parse().with_context(|| format!("{address:?} is not an address"))?;
                break;
            }
        }
        // Drained, so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        node.wait_healthy()?;
        Ok(node)
    }

    fn wait_healthy(&self) -> anyhow::Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(response) = agent.get(format!("http://{}/healthz", self.address)).call()
                && response.status() == 200
            {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "the server at {} never answered its health check", self.address);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory now, in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let pid = self.child.as_ref().context("stopped")?.id();
        super::rss_bytes(&format!("/proc/{pid}/status"), "VmRSS:")
    }

    /// Stops it as an operator would (SIGTERM: the hot window is flushed) and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("stopped already")?;
        // SAFETY: signals a child this process spawned and has not reaped, so the pid is still its.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::ensure!(status.success(), "the server exited with {status}");
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                anyhow::bail!("the server did not stop within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
