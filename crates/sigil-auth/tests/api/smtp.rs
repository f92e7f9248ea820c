//! The SMTP mailer against a minimal SMTP server speaking the protocol on a local port.

use sigil_auth::mail::{Mail, MailKind, Mailer, SmtpMailer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Accepts one SMTP session and returns (envelope sender, recipients, message data).
async fn fake_smtp(listener: TcpListener) -> (String, Vec<String>, String) {
    let (socket, _) = listener.accept().await.unwrap();
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 fake.smtp ESMTP ready\r\n")
        .await
        .unwrap();
    let (mut from, mut to, mut data) = (String::new(), Vec::new(), String::new());
    while let Some(line) = lines.next_line().await.unwrap() {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write
                .write_all(b"250-fake.smtp\r\n250 8BITMIME\r\n")
                .await
                .unwrap();
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            write.write_all(b"250 OK\r\n").await.unwrap();
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await.unwrap();
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await.unwrap();
            while let Some(body) = lines.next_line().await.unwrap() {
                if body == "." {
                    break;
                }
                data.push_str(&body);
                data.push('\n');
            }
            write.write_all(b"250 queued\r\n").await.unwrap();
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await.unwrap();
            break;
        } else {
            write.write_all(b"250 OK\r\n").await.unwrap();
        }
    }
    (from, to, data)
}

#[tokio::test]
async fn smtp_mailer_delivers_the_link() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(fake_smtp(listener));
    let mailer = SmtpMailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "Sigil <no-reply@sigil.test>",
    )
    .unwrap();
    let mail = Mail {
        to: "ada@example.com".into(),
        kind: MailKind::ResetPassword,
        subject: "Reset your password".into(),
        url: "http://127.0.0.1:8080/api/auth/reset-password/abc?callbackURL=%2Freset".into(),
        token: "abc".into(),
    };
    mailer.send(mail).await.unwrap();
    let (from, to, data) = server.await.unwrap();
    assert_eq!(from, "<no-reply@sigil.test>");
    assert_eq!(to, vec!["<ada@example.com>".to_owned()]);
    assert!(data.contains("Subject: Reset your password"), "{data}");
    assert!(
        data.contains("http://127.0.0.1:8080/api/auth/reset-password/abc?callbackURL=%2Freset"),
        "{data}"
    );
}

#[tokio::test]
async fn a_bad_smtp_url_is_refused_at_start() {
    assert!(SmtpMailer::new("ftp://nope", "Sigil <no-reply@sigil.test>").is_err());
    assert!(SmtpMailer::new("smtp://127.0.0.1:25", "not an address").is_err());
}
