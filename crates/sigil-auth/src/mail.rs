//! Outgoing mail: the [`Mailer`] trait and its implementations.
//!
//! * [`LogMailer`] (default, development): writes the link to the log;
//! * [`FileMailer`]: appends one JSON line per message to a file (`SIGIL_MAIL_FILE`), for local
//!   development and end-to-end tests that must read links;
//! * [`MemoryMailer`]: keeps messages in memory (tests);
//! * [`SmtpMailer`]: sends through SMTP with `lettre` (`SIGIL_SMTP_URL`).

use async_trait::async_trait;
use serde::Serialize;
use std::sync::{Arc, Mutex, PoisonError};

/// What a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailKind {
    /// Password reset link.
    ResetPassword,
    /// Email verification link.
    VerifyEmail,
    /// Confirmation of an email change.
    ChangeEmail,
    /// Confirmation of account deletion.
    DeleteAccount,
    /// A two-factor sign-in code (`token` is the code; `url` is empty).
    TwoFactorCode,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mail {
    /// Recipient.
    pub to: String,
    /// Purpose.
    pub kind: MailKind,
    /// Subject line (not part of the JSON-lines outbox record, which is `{to, kind, url, token}`).
    #[serde(skip)]
    pub subject: String,
    /// The link the recipient must open.
    pub url: String,
    /// The single-use token inside the link.
    pub token: String,
}

impl Mail {
    /// The plain-text body.
    pub fn text(&self) -> String {
        if self.kind == MailKind::TwoFactorCode {
            return format!(
                "{}\n\nYour code: {}\n\nIt works once, for 3 minutes. If you did not try to sign in, change your password.\n",
                self.subject, self.token
            );
        }
        format!(
            "{}\n\nOpen this link to continue:\n{}\n\nIf you did not ask for this, ignore this message.\n",
            self.subject, self.url
        )
    }
}

/// Delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers one message.
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// Logs each message's link (development default). Links carry single-use secrets: do not use
/// this in production.
#[derive(Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        tracing::info!(target: "sigil::mail", to = %mail.to, kind = ?mail.kind, url = %mail.url, "mail (log mailer; set SIGIL_SMTP_URL to send real mail)");
        Ok(())
    }
}

/// Appends each message as a JSON line to a file.
#[derive(Debug)]
pub struct FileMailer {
    path: std::path::PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileMailer {
    /// A mailer writing to `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> FileMailer {
        FileMailer {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        use tokio::io::AsyncWriteExt;
        let mut line = serde_json::to_vec(&mail).map_err(|e| MailError(e.to_string()))?;
        line.push(b'\n');
        let _one_writer = self.lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        file.write_all(&line)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        file.flush().await.map_err(|e| MailError(e.to_string()))
    }
}

/// Keeps messages in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<Mail>>>,
}

impl MemoryMailer {
    /// An empty outbox.
    pub fn new() -> MemoryMailer {
        MemoryMailer::default()
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest message to `to` of `kind`.
    pub fn last(&self, to: &str, kind: MailKind) -> Option<Mail> {
        self.sent()
            .into_iter()
            .rev()
            .find(|m| m.to == to && m.kind == kind)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
        Ok(())
    }
}

#[cfg(feature = "smtp")]
pub use smtp::SmtpMailer;

#[cfg(feature = "smtp")]
mod smtp {
    use super::{Mail, MailError, Mailer};
    use async_trait::async_trait;
    use lettre::message::Mailbox;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    /// Sends mail through an SMTP server given as a URL
    /// (`smtps://user:pass@smtp.example.com:465`, `smtp://...?tls=required`).
    #[derive(Debug)]
    pub struct SmtpMailer {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    }

    impl SmtpMailer {
        /// A mailer for `url`, sending as `from`.
        pub fn new(url: &str, from: &str) -> Result<SmtpMailer, MailError> {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| MailError(format!("SIGIL_SMTP_URL: {e}")))?
                .build();
            let from = from
                .parse()
                .map_err(|e| MailError(format!("SIGIL_MAIL_FROM: {e}")))?;
            Ok(SmtpMailer { transport, from })
        }
    }

    #[async_trait]
    impl Mailer for SmtpMailer {
        async fn send(&self, mail: Mail) -> Result<(), MailError> {
            let to = mail
                .to
                .parse()
                .map_err(|e| MailError(format!("recipient: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .body(mail.text())
                .map_err(|e| MailError(e.to_string()))?;
            self.transport
                .send(message)
                .await
                .map_err(|e| MailError(e.to_string()))?;
            Ok(())
        }
    }
}
