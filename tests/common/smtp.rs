//! A minimal SMTP server for the e-mail alerts, and the reading of what it received.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A minimal SMTP server: accepts every message and keeps (recipients, data).
pub async fn fake_smtp() -> (u16, Arc<Mutex<Vec<(Vec<String>, String)>>>) {
    use tokio::io::AsyncBufReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let log = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let (read, mut write) = sock.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                let _ = write.write_all(b"220 fake.smtp ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-fake.smtp\r\n250 8BITMIME\r\n",
                        "MAIL" => b"250 OK\r\n",
                        "RCPT" => {
                            rcpt.push(line[8..].trim().to_string());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            log.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, mails)
}

/// The text of a one-part message, whatever transfer encoding the mailer chose.
pub fn decoded_body(data: &str) -> String {
    use base64::Engine;
    let (head, body) = data.split_once("\n\n").unwrap_or((data, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        return String::from_utf8(bytes).unwrap();
    }
    if head.contains("content-transfer-encoding: quoted-printable") {
        let mut out = Vec::new();
        let unfolded = body.replace("=\n", "");
        let bytes = unfolded.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&unfolded[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    body.to_string()
}
