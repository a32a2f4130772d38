//! A mailbox on loopback that speaks just enough SMTP (RFC 5321: greeting, EHLO, MAIL, RCPT,
//! DATA, QUIT) to take every mail lettre sends. Hand-written: the crates that serve SMTP are
//! whole mail servers, and this only has to receive. Two refusals, for the tests: a recipient
//! `sconosciuto@…` does not exist (550), and a login is always refused (535).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::Shared;

/// Starts the mailbox; each mail is recorded (`to`: its recipients) and kept whole.
pub(super) async fn serve(shared: Shared) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(session(conn, shared.clone()));
        }
    });
    Ok(addr)
}

async fn session(conn: tokio::net::TcpStream, shared: Shared) {
    let (read, mut write) = conn.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 mailbox ESMTP\r\n").await.is_err() {
        return;
    }
    let (mut data, mut in_data, mut to) = (String::new(), false, Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let reply: &[u8] = if in_data {
            if line == "." {
                in_data = false;
                let id = data
                    .lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .unwrap_or("?")
                    .to_owned();
                shared.record("mailbox", &to.join(", "), "mail", id);
                shared.keep_mail(std::mem::take(&mut data));
                to.clear();
                b"250 accepted\r\n"
            } else {
                // Dot-stuffing undone.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
                continue;
            }
        } else {
            let verb = line.get(..4).map(str::to_ascii_uppercase);
            match verb.as_deref() {
                Some("EHLO") => b"250-mailbox\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                // This mailbox knows no user: whoever logs in is refused.
                Some("AUTH") => b"535 5.7.8 authentication credentials invalid\r\n",
                Some("RCPT") => {
                    let address = line
                        .split_once(':')
                        .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned())
                        .unwrap_or_default();
                    if address.starts_with("sconosciuto@") {
                        b"550 5.1.1 no such user here\r\n"
                    } else {
                        to.push(address);
                        b"250 ok\r\n"
                    }
                }
                Some("DATA") => {
                    in_data = true;
                    b"354 go on\r\n"
                }
                Some("QUIT") => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    break;
                }
                _ => b"250 ok\r\n",
            }
        };
        if write.write_all(reply).await.is_err() {
            break;
        }
    }
}
