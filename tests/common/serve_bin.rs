//! The real `oshirase serve` binary as a child process, for tests of what an attacker can
//! make the shipped program do.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `oshirase serve`; killed when dropped.
pub struct ServeBin {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every line the child wrote to standard error after it said where it serves.
    pub log: mpsc::Receiver<String>,
}

impl ServeBin {
    /// Starts `serve --repo REPO --data DATA --listen 127.0.0.1:0` plus `extra` arguments
    /// and `env`, with an empty environment for credentials, and waits until it serves.
    pub fn start(repo: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServeBin {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshirase"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--poll", "1s"])
            .arg("--repo")
            .arg(repo)
            .arg("--data")
            .arg(data)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("oshirase serve starts");
        let (tx, log) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("serve says where it listens within 30 s");
            if let Some(rest) = line.split("serving http://").nth(1) {
                break rest
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("an address");
            }
        };
        ServeBin { child, addr, log }
    }
}

impl Drop for ServeBin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
