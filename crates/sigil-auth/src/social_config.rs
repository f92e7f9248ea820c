//! Social provider settings: the providers file (JSON) and the presets' constants.
//!
//! ```json
//! { "providers": [
//!   { "id": "google", "client_id": "…apps.googleusercontent.com", "client_secret_env": "GOOGLE_SECRET" },
//!   { "id": "github", "client_id": "Iv1.…", "client_secret_env": "GITHUB_SECRET" },
//!   { "id": "company", "type": "oidc", "name": "Company SSO", "issuer": "https://sso.example.com",
//!     "client_id": "sigil", "client_secret_env": "SSO_SECRET", "trusted": true }
//! ] }
//! ```
//!
//! A provider's `type` defaults to its `id` when that names a preset (`google`, `github`,
//! `microsoft`, `apple`, `gitlab`, `discord`); any other id needs `"type": "oidc"` and an
//! `issuer`. Secrets come inline (`client_secret`) or, better, from the environment variable
//! named by `client_secret_env`; they are held as [`ClientSecret`] and never printed.

use serde::Deserialize;
use zeroize::Zeroizing;

/// A provider's client secret (or Apple's private key): never printed, zeroed on drop.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(value: String) -> ClientSecret {
        ClientSecret(Zeroizing::new(value))
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The protocol family of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Any OpenID Connect provider, by issuer URL (discovery).
    Oidc,
    /// Google (OpenID Connect, issuer `https://accounts.google.com`).
    Google,
    /// Microsoft Entra ID (OpenID Connect, issuer per tenant).
    Microsoft,
    /// Sign in with Apple (OpenID Connect; the client secret is an ES256 JWT Sigil signs).
    Apple,
    /// GitLab (OpenID Connect, gitlab.com or a self-hosted issuer).
    Gitlab,
    /// GitHub (OAuth 2 with its user and emails endpoints; no ID token).
    Github,
    /// Discord (OAuth 2 with its user endpoint; no ID token).
    Discord,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "oidc" => Kind::Oidc,
            "google" => Kind::Google,
            "microsoft" => Kind::Microsoft,
            "apple" => Kind::Apple,
            "gitlab" => Kind::Gitlab,
            "github" => Kind::Github,
            "discord" => Kind::Discord,
            _ => return None,
        })
    }

    /// Whether the provider speaks OpenID Connect (ID tokens, discovery).
    pub fn is_oidc(self) -> bool {
        !matches!(self, Kind::Github | Kind::Discord)
    }

    fn default_name(self) -> &'static str {
        match self {
            Kind::Oidc => "OpenID Connect",
            Kind::Google => "Google",
            Kind::Microsoft => "Microsoft",
            Kind::Apple => "Apple",
            Kind::Gitlab => "GitLab",
            Kind::Github => "GitHub",
            Kind::Discord => "Discord",
        }
    }

    fn default_scopes(self) -> &'static [&'static str] {
        match self {
            Kind::Oidc | Kind::Google => &["openid", "email", "profile"],
            Kind::Microsoft => &["openid", "profile", "email", "offline_access"],
            Kind::Apple => &["openid", "name", "email"],
            Kind::Gitlab => &["openid", "profile", "email"],
            Kind::Github => &["read:user", "user:email"],
            Kind::Discord => &["identify", "email"],
        }
    }
}

/// Apple's signing key for the client secret JWT.
#[derive(Clone, Debug)]
pub struct AppleKey {
    /// The Apple developer team id (`iss` of the client secret).
    pub team_id: String,
    /// The key's id (`kid`).
    pub key_id: String,
    /// The `.p8` private key (PKCS#8 PEM, P-256).
    pub private_key: ClientSecret,
}

/// Endpoint overrides (a self-hosted GitHub Enterprise, a test double); absent fields keep the
/// preset's or the discovered values.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Authorization endpoint.
    pub authorization: Option<String>,
    /// Token endpoint.
    pub token: Option<String>,
    /// User info endpoint.
    pub user_info: Option<String>,
    /// GitHub's emails endpoint.
    pub emails: Option<String>,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1).
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// One configured provider.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// The id in `/sign-in/social {provider}` and `/callback/{id}` (`[a-z0-9-]`, ≤ 32).
    pub id: String,
    /// The protocol family.
    pub kind: Kind,
    /// What the web UI's button says ("Continue with …").
    pub name: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (`None` for Apple, whose secret is signed, or a public client).
    pub client_secret: Option<ClientSecret>,
    /// Issuer URL (OpenID Connect providers).
    pub issuer: Option<String>,
    /// Requested scopes when the request names none.
    pub scopes: Vec<String>,
    /// Trusted for account linking: an existing account with the same email is linked even
    /// when the provider does not say the email is verified (Better Auth's
    /// `accountLinking.trustedProviders`). Off by default.
    pub trusted: bool,
    /// Refuse to create new users through this provider (sign-in of linked users only).
    pub disable_sign_up: bool,
    /// Apple's signing key.
    pub apple: Option<AppleKey>,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// Token endpoint client authentication.
    pub token_auth: TokenAuth,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    providers: Vec<FileProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProvider {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    issuer: Option<String>,
    tenant: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    trusted: bool,
    #[serde(default)]
    disable_sign_up: bool,
    team_id: Option<String>,
    key_id: Option<String>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    #[serde(default)]
    endpoints: Endpoints,
    token_auth: Option<String>,
}

/// Most providers one deployment may configure.
pub const MAX_PROVIDERS: usize = 32;

/// Parses a providers file (JSON). `env` looks up the variables named by `*_env` fields.
pub fn parse_providers(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderConfig>, String> {
    let doc: FileDoc =
        serde_json::from_str(text).map_err(|e| format!("social providers file: {e}"))?;
    if doc.providers.len() > MAX_PROVIDERS {
        return Err(format!(
            "social providers file: at most {MAX_PROVIDERS} providers"
        ));
    }
    let mut out: Vec<ProviderConfig> = Vec::new();
    for p in doc.providers {
        let id = p.id.clone();
        let bad = |what: &str| format!("social provider {id:?}: {what}");
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("the id must be 1 to 32 characters of a-z, 0-9 and -"));
        }
        if out.iter().any(|o| o.id == id) {
            return Err(bad("listed twice"));
        }
        let kind_name = p.kind.as_deref().unwrap_or(&id);
        let kind = Kind::parse(kind_name).ok_or_else(|| {
            bad("unknown type: set \"type\" to oidc, google, microsoft, apple, gitlab, github or discord")
        })?;
        let secret = |inline: Option<String>, var: Option<String>, what: &str| match (inline, var) {
            (Some(_), Some(_)) => Err(bad(&format!("give {what} or {what}_env, not both"))),
            (Some(v), None) => Ok(Some(ClientSecret::new(v))),
            (None, Some(var)) => env(&var)
                .filter(|v| !v.is_empty())
                .map(|v| Some(ClientSecret::new(v)))
                .ok_or_else(|| bad(&format!("the environment variable {var} is not set"))),
            (None, None) => Ok(None),
        };
        let client_secret = secret(p.client_secret, p.client_secret_env, "client_secret")?;
        let private_key = secret(p.private_key, p.private_key_env, "private_key")?;
        if p.client_id.is_empty() {
            return Err(bad("client_id is empty"));
        }
        let issuer = match kind {
            Kind::Oidc => Some(
                p.issuer
                    .clone()
                    .ok_or_else(|| bad("an oidc provider needs an issuer"))?,
            ),
            Kind::Google => Some("https://accounts.google.com".to_owned()),
            Kind::Apple => Some("https://appleid.apple.com".to_owned()),
            Kind::Gitlab => Some(
                p.issuer
                    .clone()
                    .unwrap_or_else(|| "https://gitlab.com".to_owned()),
            ),
            Kind::Microsoft => Some(format!(
                "https://login.microsoftonline.com/{}/v2.0",
                p.tenant.as_deref().unwrap_or("common")
            )),
            Kind::Github | Kind::Discord => None,
        };
        if let Some(issuer) = &issuer {
            check_url(issuer).map_err(|e| bad(&format!("issuer: {e}")))?;
        }
        for url in [
            &p.endpoints.authorization,
            &p.endpoints.token,
            &p.endpoints.user_info,
            &p.endpoints.emails,
        ]
        .into_iter()
        .flatten()
        {
            check_url(url).map_err(|e| bad(&format!("endpoint: {e}")))?;
        }
        let apple = if kind == Kind::Apple {
            match (p.team_id, p.key_id, private_key) {
                (Some(team_id), Some(key_id), Some(private_key)) => Some(AppleKey {
                    team_id,
                    key_id,
                    private_key,
                }),
                (None, None, None) if client_secret.is_some() => None,
                _ => {
                    return Err(bad(
                        "apple needs team_id, key_id and private_key (or private_key_env)",
                    ));
                }
            }
        } else {
            None
        };
        if kind != Kind::Apple && client_secret.is_none() {
            return Err(bad("client_secret (or client_secret_env) is required"));
        }
        let token_auth = match p.token_auth.as_deref() {
            Some("basic") => TokenAuth::Basic,
            Some("post") => TokenAuth::Post,
            Some(_) => return Err(bad("token_auth must be basic or post")),
            // Apple accepts only client_secret_post; GitHub documents the form body.
            None if matches!(kind, Kind::Apple | Kind::Github) => TokenAuth::Post,
            None => TokenAuth::Basic,
        };
        out.push(ProviderConfig {
            name: p.name.unwrap_or_else(|| kind.default_name().to_owned()),
            scopes: p.scopes.unwrap_or_else(|| {
                kind.default_scopes()
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            }),
            id,
            kind,
            client_id: p.client_id,
            client_secret,
            issuer,
            trusted: p.trusted,
            disable_sign_up: p.disable_sign_up,
            apple,
            endpoints: p.endpoints,
            token_auth,
        });
    }
    Ok(out)
}

/// An endpoint must be https, except on a loopback host (local tests and development).
pub fn check_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{url:?} must be https (http only on a loopback host)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_issuers_scopes_and_auth() {
        let file = r#"{"providers":[
            {"id":"google","client_id":"g","client_secret":"gs"},
            {"id":"github","client_id":"h","client_secret_env":"GH"},
            {"id":"microsoft","client_id":"m","client_secret":"ms","tenant":"contoso.onmicrosoft.com"},
            {"id":"apple","client_id":"a","team_id":"T","key_id":"K","private_key":"pem"},
            {"id":"corp","type":"oidc","issuer":"https://sso.example.com","client_id":"c","client_secret":"cs","trusted":true}
        ]}"#;
        let ps = parse_providers(file, |v| (v == "GH").then(|| "ghs".to_owned())).unwrap();
        assert_eq!(ps[0].issuer.as_deref(), Some("https://accounts.google.com"));
        assert_eq!(ps[0].token_auth, TokenAuth::Basic);
        assert_eq!(ps[1].client_secret.as_ref().unwrap().expose(), "ghs");
        assert_eq!(ps[1].token_auth, TokenAuth::Post);
        assert_eq!(ps[1].scopes, vec!["read:user", "user:email"]);
        assert_eq!(
            ps[2].issuer.as_deref(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0")
        );
        assert!(ps[3].apple.is_some());
        assert!(ps[4].trusted && ps[4].name == "OpenID Connect");
        assert!(!format!("{:?}", ps[0]).contains("gs\""));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for (file, says) in [
            (
                r#"{"providers":[{"id":"x","client_id":"c","client_secret":"s"}]}"#,
                "unknown type",
            ),
            (
                r#"{"providers":[{"id":"Bad!","client_id":"c","client_secret":"s"}]}"#,
                "the id",
            ),
            (
                r#"{"providers":[{"id":"google","client_id":"c"}]}"#,
                "client_secret",
            ),
            (
                r#"{"providers":[{"id":"corp","type":"oidc","issuer":"http://sso.example.com","client_id":"c","client_secret":"s"}]}"#,
                "https",
            ),
            (
                r#"{"providers":[{"id":"github","client_id":"c","client_secret_env":"NOPE"}]}"#,
                "NOPE",
            ),
            (
                r#"{"providers":[{"id":"google","client_id":"c","client_secret":"s","extra":1}]}"#,
                "unknown field",
            ),
        ] {
            let err = parse_providers(file, |_| None).unwrap_err();
            assert!(err.contains(says), "{file}: {err}");
        }
    }
}
