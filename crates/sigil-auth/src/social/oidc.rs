//! Talking to providers: bounded HTTP, OpenID Connect discovery and key sets (cached), and
//! ID-token verification through `sigil-token`.

use crate::social_config::{Kind, ProviderConfig, check_url};
use serde_json::{Map, Value};
use sigil_guard::clock::SharedClock;
use sigil_token::{Algorithm, Claims, JwkSet, KeySet, Validation, Verifier, VerifyError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Largest provider answer read (discovery, keys, tokens, profiles).
const MAX_BODY: usize = 256 * 1024;
/// How long discovery documents and key sets are kept.
const CACHE_MS: i64 = 3600 * 1000;
/// A token signed by a key the cached set lacks refetches the set at most this often.
const REFETCH_MS: i64 = 60 * 1000;

/// Why a provider call failed. The text is for logs; it never holds a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Network failure or timeout.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// An answer that is not what the protocol says.
    #[error("provider answered garbage: {0}")]
    Garbage(String),
    /// The provider refused (an OAuth error answer, a non-2xx status).
    #[error("provider refused: {0}")]
    Refused(String),
    /// The ID token failed verification.
    #[error("ID token refused: {0}")]
    IdToken(String),
}

/// The endpoints of one provider.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// `issuer` (OpenID Connect).
    pub issuer: Option<String>,
    /// Authorization endpoint.
    pub authorization: String,
    /// Token endpoint.
    pub token: String,
    /// User info endpoint.
    pub user_info: Option<String>,
    /// Key set (OpenID Connect).
    pub jwks_uri: Option<String>,
}

/// HTTP to providers plus the discovery and key caches.
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    clock: SharedClock,
    metadata: Arc<Mutex<HashMap<String, (i64, Metadata)>>>,
    keys: Arc<Mutex<HashMap<String, (i64, KeySet)>>>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient").finish_non_exhaustive()
    }
}

impl ProviderClient {
    /// A client whose every call ends within `timeout`.
    pub fn new(clock: SharedClock, timeout: Duration) -> Result<ProviderClient, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ProviderClient {
            http,
            clock,
            metadata: Arc::default(),
            keys: Arc::default(),
        })
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `request` and reads a JSON object (at most 256 KiB). A non-2xx status is
    /// [`ProviderError::Refused`] with the OAuth `error` code when the body has one.
    pub async fn json(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Map<String, Value>, ProviderError> {
        match self.value(request).await? {
            Value::Object(map) => Ok(map),
            _ => Err(ProviderError::Garbage("not a JSON object".into())),
        }
    }

    /// Like [`ProviderClient::json`], for any JSON value (GitHub's emails are an array).
    pub async fn value(&self, request: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let mut response = request
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Unreachable(without_url(&e)))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY as u64)
        {
            return Err(ProviderError::Garbage("answer too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ProviderError::Unreachable(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::Garbage("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let parsed = serde_json::from_slice::<Value>(&body).ok();
        if !status.is_success() {
            let code = parsed
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(Value::as_str)
                .map(|c| c.chars().take(64).collect::<String>())
                .unwrap_or_default();
            return Err(ProviderError::Refused(format!("status {status} {code}")));
        }
        parsed.ok_or_else(|| ProviderError::Garbage("not JSON".into()))
    }

    /// The provider's endpoints: the preset's constants, or discovery (cached an hour), with
    /// the configured overrides on top.
    pub async fn metadata(&self, p: &ProviderConfig) -> Result<Metadata, ProviderError> {
        let mut meta = match p.kind {
            Kind::Github => Metadata {
                issuer: None,
                authorization: "https://github.com/login/oauth/authorize".into(),
                token: "https://github.com/login/oauth/access_token".into(),
                user_info: Some("https://api.github.com/user".into()),
                jwks_uri: None,
            },
            Kind::Discord => Metadata {
                issuer: None,
                authorization: "https://discord.com/oauth2/authorize".into(),
                token: "https://discord.com/api/oauth2/token".into(),
                user_info: Some("https://discord.com/api/users/@me".into()),
                jwks_uri: None,
            },
            _ => self.discover(p).await?,
        };
        let e = &p.endpoints;
        if let Some(v) = &e.authorization {
            meta.authorization = v.clone();
        }
        if let Some(v) = &e.token {
            meta.token = v.clone();
        }
        if let Some(v) = &e.user_info {
            meta.user_info = Some(v.clone());
        }
        Ok(meta)
    }

    async fn discover(&self, p: &ProviderConfig) -> Result<Metadata, ProviderError> {
        let issuer = p.issuer.clone().unwrap_or_default();
        let now = self.clock.now_ms();
        if let Some((at, meta)) = self.lock_metadata().get(&p.id)
            && now - at < CACHE_MS
        {
            return Ok(meta.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.json(self.http.get(&url)).await?;
        let field = |name: &str| -> Result<String, ProviderError> {
            let v = doc
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| ProviderError::Garbage(format!("discovery lacks {name}")))?;
            check_url(v).map_err(ProviderError::Garbage)?;
            Ok(v.to_owned())
        };
        let discovered_issuer = doc
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::Garbage("discovery lacks issuer".into()))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for
        // (Microsoft's multi-tenant documents name a `{tenantid}` template instead).
        let template = p.kind == Kind::Microsoft && discovered_issuer.contains("{tenantid}");
        if discovered_issuer != issuer && !template {
            return Err(ProviderError::Garbage(format!(
                "discovery names issuer {discovered_issuer:?}, not {issuer:?}"
            )));
        }
        let meta = Metadata {
            issuer: Some(discovered_issuer.to_owned()),
            authorization: field("authorization_endpoint")?,
            token: field("token_endpoint")?,
            user_info: doc
                .get("userinfo_endpoint")
                .and_then(Value::as_str)
                .map(str::to_owned),
            jwks_uri: Some(field("jwks_uri")?),
        };
        self.lock_metadata()
            .insert(p.id.clone(), (now, meta.clone()));
        Ok(meta)
    }

    fn lock_metadata(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Metadata)>> {
        self.metadata.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, KeySet)>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch_keys(&self, jwks_uri: &str) -> Result<KeySet, ProviderError> {
        let doc = self.json(self.http.get(jwks_uri)).await?;
        let (keys, skipped) = JwkSet::parse_keys(&Value::Object(doc).to_string())
            .map_err(|e| ProviderError::Garbage(format!("key set: {e}")))?;
        for key in skipped {
            tracing::debug!(target: "sigil::social", kid = ?key.kid, reason = %key.reason, "provider key skipped");
        }
        self.lock_keys()
            .insert(jwks_uri.to_owned(), (self.clock.now_ms(), keys.clone()));
        Ok(keys)
    }

    /// Verifies an ID token from `p`: signature by a key of the provider's set (an unknown
    /// `kid` refetches the set, at most once a minute), `iss`, `aud` = the client id, `exp`,
    /// `iat`, `azp` and, when `nonce` is given, the `nonce` claim.
    pub async fn verify_id_token(
        &self,
        p: &ProviderConfig,
        meta: &Metadata,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Claims, ProviderError> {
        let (Some(issuer), Some(jwks_uri)) = (&meta.issuer, &meta.jwks_uri) else {
            return Err(ProviderError::IdToken("the provider has no key set".into()));
        };
        let now = self.clock.now_ms();
        let cached = self.lock_keys().get(jwks_uri).cloned();
        let (fetched_at, keys) = match cached {
            Some((at, keys)) if now - at < CACHE_MS => (at, keys),
            _ => (now, self.fetch_keys(jwks_uri).await?),
        };
        let template = issuer.contains("{tenantid}");
        let mut validation = Validation::new(issuer.clone(), p.client_id.clone()).algorithms(&[
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ]);
        if template {
            validation = validation.skip_issuer_check();
        }
        let now_secs = u64::try_from(now / 1000).unwrap_or(0);
        let claims = match Verifier::new(keys, validation.clone()).verify(token, now_secs) {
            Err(VerifyError::UnknownKey) if now - fetched_at >= REFETCH_MS => {
                let keys = self.fetch_keys(jwks_uri).await?;
                Verifier::new(keys, validation).verify(token, now_secs)
            }
            other => other,
        }
        .map_err(|e| ProviderError::IdToken(e.kind().to_owned()))?;
        if template {
            let tid = claims
                .extra
                .get("tid")
                .and_then(Value::as_str)
                .unwrap_or("");
            if tid.is_empty() || claims.iss.as_deref() != Some(&issuer.replace("{tenantid}", tid)) {
                return Err(ProviderError::IdToken("iss".into()));
            }
        }
        if claims.iat.is_none() {
            return Err(ProviderError::IdToken("iat missing".into()));
        }
        // OpenID Connect Core §3.1.3.7: with several audiences `azp` must be present, and
        // when present it must be this client.
        match claims.extra.get("azp") {
            Some(Value::String(azp)) if *azp == p.client_id => {}
            None if claims.aud.0.len() == 1 => {}
            _ => return Err(ProviderError::IdToken("azp".into())),
        }
        if let Some(expected) = nonce {
            let given = claims
                .extra
                .get("nonce")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !crate::crypto::ct_eq(given.as_bytes(), expected.as_bytes()) {
                return Err(ProviderError::IdToken("nonce".into()));
            }
        }
        Ok(claims)
    }
}

/// A reqwest error without the URL (which may carry a code or a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}
