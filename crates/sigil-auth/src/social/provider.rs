//! One provider's protocol: the authorization URL, the code exchange, the refresh, and the
//! mapping of its profile (ID token claims, or GitHub's and Discord's user endpoints) to a
//! [`Profile`].

use super::oidc::{Metadata, ProviderClient, ProviderError};
use crate::social_config::{Kind, ProviderConfig, TokenAuth};
use serde_json::{Map, Value};
use sigil_token::Claims;
use zeroize::Zeroizing;

/// Tokens from a token endpoint.
#[derive(Default)]
pub struct Tokens {
    /// Access token.
    pub access_token: Option<Zeroizing<String>>,
    /// Refresh token.
    pub refresh_token: Option<Zeroizing<String>>,
    /// ID token.
    pub id_token: Option<String>,
    /// Access token lifetime, seconds.
    pub expires_in: Option<i64>,
    /// Refresh token lifetime, seconds.
    pub refresh_expires_in: Option<i64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Who the provider says the user is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The user's id at the provider.
    pub id: String,
    /// Email, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider asserts the email is verified.
    pub email_verified: bool,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub image: Option<String>,
}

/// The authorization request's parameters.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    /// `state`.
    pub state: &'a str,
    /// PKCE S256 challenge.
    pub code_challenge: &'a str,
    /// OpenID Connect nonce.
    pub nonce: Option<&'a str>,
    /// Scopes (already merged with the defaults).
    pub scopes: &'a [String],
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// `redirect_uri`.
    pub redirect_uri: &'a str,
}

/// Builds the authorization URL.
pub fn authorization_url(
    p: &ProviderConfig,
    meta: &Metadata,
    req: &AuthorizationRequest<'_>,
) -> Result<url::Url, ProviderError> {
    let mut url = url::Url::parse(&meta.authorization)
        .map_err(|_| ProviderError::Garbage("authorization endpoint".into()))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", req.redirect_uri)
            .append_pair("scope", &req.scopes.join(" "))
            .append_pair("state", req.state)
            .append_pair("code_challenge", req.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(nonce) = req.nonce {
            q.append_pair("nonce", nonce);
        }
        if let Some(hint) = req.login_hint {
            q.append_pair("login_hint", hint);
        }
        match p.kind {
            // Google returns a refresh token only when asked for offline access.
            Kind::Google => {
                q.append_pair("access_type", "offline")
                    .append_pair("include_granted_scopes", "true");
            }
            // Apple posts the answer (and the user's name on first sign-in) when name or
            // email is requested.
            Kind::Apple if req.scopes.iter().any(|s| s == "name" || s == "email") => {
                q.append_pair("response_mode", "form_post");
            }
            Kind::Discord => {
                q.append_pair("prompt", "none");
            }
            _ => {}
        }
    }
    Ok(url)
}

/// Apple's client secret: an ES256 JWT signed with the developer's key, valid five minutes.
fn apple_client_secret(p: &ProviderConfig, now_secs: u64) -> Result<String, ProviderError> {
    let Some(key) = &p.apple else {
        return p
            .client_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .ok_or_else(|| ProviderError::Garbage("apple key missing".into()));
    };
    let scalar = p256_scalar_from_pem(key.private_key.expose()).ok_or_else(|| {
        ProviderError::Garbage("apple private key is not a P-256 PKCS#8 PEM".into())
    })?;
    let signing = sigil_token::SigningKey::es256_from_scalar(&scalar[..], Some(key.key_id.clone()))
        .map_err(|_| ProviderError::Garbage("apple private key".into()))?;
    let claims = Claims::new(p.client_id.clone(), now_secs, now_secs + 300)
        .with_issuer(key.team_id.clone())
        .with_audience("https://appleid.apple.com");
    sigil_token::sign(&signing, &claims)
        .map_err(|_| ProviderError::Garbage("apple client secret".into()))
}

/// The 32-byte private scalar of a P-256 key in a PKCS#8 (or SEC 1) PEM: the `privateKey`
/// OCTET STRING of the inner `ECPrivateKey` (`02 01 01 04 20 ‹d›`).
pub fn p256_scalar_from_pem(pem: &str) -> Option<Zeroizing<[u8; 32]>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?,
    );
    let marker = [0x02, 0x01, 0x01, 0x04, 0x20];
    let at = der.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let bytes = der.get(at..at + 32)?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(bytes);
    Some(out)
}

fn client_secret(
    p: &ProviderConfig,
    now_secs: u64,
) -> Result<Option<Zeroizing<String>>, ProviderError> {
    if p.kind == Kind::Apple {
        return apple_client_secret(p, now_secs).map(|s| Some(Zeroizing::new(s)));
    }
    Ok(p.client_secret
        .as_ref()
        .map(|s| Zeroizing::new(s.expose().to_owned())))
}

/// Posts a grant to the token endpoint and reads the tokens.
pub async fn token_request(
    client: &ProviderClient,
    p: &ProviderConfig,
    meta: &Metadata,
    mut form: Vec<(&'static str, String)>,
    now_secs: u64,
) -> Result<Tokens, ProviderError> {
    let secret = client_secret(p, now_secs)?;
    let mut request = client.http().post(&meta.token);
    match (p.token_auth, &secret) {
        (TokenAuth::Basic, Some(secret)) => {
            // RFC 6749 §2.3.1: each part form-encoded before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&p.client_id), Some(enc(secret)));
        }
        (_, secret) => {
            form.push(("client_id", p.client_id.clone()));
            if let Some(secret) = secret {
                form.push(("client_secret", secret.as_str().to_owned()));
            }
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let answer = client
        .json(
            request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(ProviderError::Refused(error.chars().take(64).collect()));
    }
    let string = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = |k: &str| {
        answer
            .get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
    };
    let access_token =
        string("access_token").ok_or_else(|| ProviderError::Garbage("no access_token".into()))?;
    Ok(Tokens {
        access_token: Some(Zeroizing::new(access_token)),
        refresh_token: string("refresh_token").map(Zeroizing::new),
        id_token: string("id_token"),
        expires_in: number("expires_in"),
        refresh_expires_in: number("refresh_token_expires_in"),
        scopes: string("scope")
            .map(|s| {
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Exchanges an authorization code (with its PKCE verifier).
pub async fn exchange_code(
    client: &ProviderClient,
    p: &ProviderConfig,
    meta: &Metadata,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    now_secs: u64,
) -> Result<Tokens, ProviderError> {
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("code_verifier", verifier.to_owned()),
    ];
    token_request(client, p, meta, form, now_secs).await
}

/// Uses a refresh token.
pub async fn refresh(
    client: &ProviderClient,
    p: &ProviderConfig,
    meta: &Metadata,
    refresh_token: &str,
    now_secs: u64,
) -> Result<Tokens, ProviderError> {
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    token_request(client, p, meta, form, now_secs).await
}

async fn get_json(
    client: &ProviderClient,
    url: &str,
    access_token: &str,
) -> Result<Map<String, Value>, ProviderError> {
    client
        .json(client.http().get(url).bearer_auth(access_token))
        .await
}

/// Fetches a user-info document with the access token (OpenID Connect `userinfo`, GitHub's
/// `/user`, Discord's `/users/@me`).
pub async fn user_info(
    client: &ProviderClient,
    meta: &Metadata,
    access_token: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let url = meta
        .user_info
        .as_deref()
        .ok_or_else(|| ProviderError::Garbage("no user info endpoint".into()))?;
    get_json(client, url, access_token).await
}

fn string_of(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        Some(Value::Bool(b)) => *b,
        // Apple sends "true" as a string.
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// The profile in an OpenID Connect ID token's claims (with the user-info answer, when
/// fetched, filling what the token lacks). `apple_user` is the name Apple posts once.
pub fn oidc_profile(
    claims: &Claims,
    info: Option<&Map<String, Value>>,
    apple_user: Option<&Value>,
) -> Profile {
    let mut all = claims.extra.clone();
    if let Some(email) = &claims.email {
        all.insert("email".into(), Value::String(email.clone()));
    }
    if let Some(name) = &claims.name {
        all.insert("name".into(), Value::String(name.clone()));
    }
    // Fill from the user-info answer only when it is about the same subject (OIDC Core §5.3.4).
    if let Some(info) = info
        && info.get("sub").and_then(Value::as_str) == Some(claims.sub.as_str())
    {
        for (k, v) in info {
            all.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let apple_name = apple_user
        .and_then(|u| u.get("name"))
        .map(|n| {
            let part = |k| n.get(k).and_then(Value::as_str).unwrap_or("");
            format!("{} {}", part("firstName"), part("lastName"))
                .trim()
                .to_owned()
        })
        .filter(|n| !n.is_empty());
    let email = string_of(&all, "email");
    let name = apple_name
        .or_else(|| string_of(&all, "name"))
        .or_else(|| string_of(&all, "preferred_username"))
        .or_else(|| email.clone())
        .unwrap_or_default();
    Profile {
        id: claims.sub.clone(),
        email_verified: email.is_some() && truthy(&all, "email_verified"),
        email,
        name,
        image: string_of(&all, "picture"),
    }
}

/// GitHub's profile: `/user`, and `/user/emails` for the primary verified address (the
/// public email on `/user` carries no verification state).
pub async fn github_profile(
    client: &ProviderClient,
    p: &ProviderConfig,
    user: &Map<String, Value>,
    access_token: &str,
) -> Result<Profile, ProviderError> {
    let id = string_of(user, "id")
        .ok_or_else(|| ProviderError::Garbage("github user without id".into()))?;
    let emails_url = p
        .endpoints
        .emails
        .as_deref()
        .unwrap_or("https://api.github.com/user/emails");
    let (email, verified) = github_primary_email(client, emails_url, access_token).await?;
    let email = email.or_else(|| string_of(user, "email"));
    Ok(Profile {
        id,
        name: string_of(user, "name")
            .or_else(|| string_of(user, "login"))
            .unwrap_or_default(),
        email_verified: verified && email.is_some(),
        email,
        image: string_of(user, "avatar_url"),
    })
}

async fn github_primary_email(
    client: &ProviderClient,
    url: &str,
    access_token: &str,
) -> Result<(Option<String>, bool), ProviderError> {
    let list = match client
        .value(client.http().get(url).bearer_auth(access_token))
        .await
    {
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect::<Vec<_>>(),
        // Without the user:email scope the endpoint refuses: fall back to the public email,
        // unverified.
        Ok(_) | Err(ProviderError::Refused(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let primary = list
        .iter()
        .find(|e| truthy(e, "primary"))
        .or_else(|| list.first());
    Ok(match primary {
        Some(e) => (string_of(e, "email"), truthy(e, "verified")),
        None => (None, false),
    })
}

/// Discord's profile from `/users/@me`.
pub fn discord_profile(user: &Map<String, Value>) -> Result<Profile, ProviderError> {
    let id = string_of(user, "id")
        .ok_or_else(|| ProviderError::Garbage("discord user without id".into()))?;
    let image = string_of(user, "avatar")
        .map(|a| format!("https://cdn.discordapp.com/avatars/{id}/{a}.png"));
    let email = string_of(user, "email");
    Ok(Profile {
        name: string_of(user, "global_name")
            .or_else(|| string_of(user, "username"))
            .unwrap_or_default(),
        email_verified: email.is_some() && truthy(user, "verified"),
        email,
        image,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::social_config::parse_providers;
    use serde_json::json;

    fn provider(kind: &str) -> ProviderConfig {
        let extra = if kind == "apple" {
            r#""team_id":"T","key_id":"K","private_key":"x""#
        } else {
            r#""client_secret":"s""#
        };
        let file = format!(r#"{{"providers":[{{"id":"{kind}","client_id":"cid",{extra}}}]}}"#);
        parse_providers(&file, |_| None).unwrap().remove(0)
    }

    fn meta(authorization: &str) -> Metadata {
        Metadata {
            issuer: None,
            authorization: authorization.into(),
            token: "https://t.example/token".into(),
            user_info: None,
            jwks_uri: None,
        }
    }

    #[test]
    fn authorization_urls_carry_pkce_state_nonce_and_preset_extras() {
        let scopes = vec!["openid".to_owned(), "email".to_owned(), "name".to_owned()];
        let req = AuthorizationRequest {
            state: "st",
            code_challenge: "ch",
            nonce: Some("nn"),
            scopes: &scopes,
            login_hint: Some("a@b.c"),
            redirect_uri: "https://id.example/api/auth/callback/x",
        };
        for (kind, extra) in [
            ("google", Some(("access_type", "offline"))),
            ("apple", Some(("response_mode", "form_post"))),
            ("discord", Some(("prompt", "none"))),
            ("github", None),
        ] {
            let p = provider(kind);
            let url = authorization_url(&p, &meta("https://a.example/auth?x=1"), &req).unwrap();
            let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
            assert_eq!(q["x"], "1", "{kind}");
            assert_eq!(q["response_type"], "code");
            assert_eq!(q["client_id"], "cid");
            assert_eq!(q["code_challenge_method"], "S256");
            assert_eq!(q["code_challenge"], "ch");
            assert_eq!(q["state"], "st");
            assert_eq!(q["nonce"], "nn");
            assert_eq!(q["login_hint"], "a@b.c");
            assert_eq!(q["scope"], "openid email name");
            if let Some((k, v)) = extra {
                assert_eq!(q[k], v, "{kind}");
            }
        }
    }

    #[test]
    fn discord_and_oidc_profiles_map_their_fields() {
        let user = json!({"id":"80351110224678912","username":"nelly","global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe","email":"nelly@discord.com","verified":true});
        let p = discord_profile(user.as_object().unwrap()).unwrap();
        assert_eq!(p.id, "80351110224678912");
        assert_eq!(p.name, "Nelly");
        assert!(p.email_verified);
        assert_eq!(
            p.image.as_deref(),
            Some(
                "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
            )
        );
        let unverified = json!({"id":"1","username":"u","email":"u@x.y","verified":false});
        assert!(
            !discord_profile(unverified.as_object().unwrap())
                .unwrap()
                .email_verified
        );

        let mut claims = Claims::new("sub-1", 1, 2);
        claims.email = Some("a@b.c".into());
        claims.extra.insert("email_verified".into(), json!("true"));
        let apple_user = json!({"name":{"firstName":"Ada","lastName":"Lovelace"}});
        let p = oidc_profile(&claims, None, Some(&apple_user));
        assert_eq!(
            (p.id.as_str(), p.name.as_str(), p.email_verified),
            ("sub-1", "Ada Lovelace", true)
        );
        let info = json!({"sub":"other","name":"Mallory","picture":"https://x/p.png"});
        let p = oidc_profile(&claims, Some(info.as_object().unwrap()), None);
        assert_eq!(p.image, None, "user info about another subject is ignored");
        let info = json!({"sub":"sub-1","name":"Ada","picture":"https://x/p.png"});
        let p = oidc_profile(&claims, Some(info.as_object().unwrap()), None);
        assert_eq!(
            (p.name.as_str(), p.image.as_deref()),
            ("Ada", Some("https://x/p.png"))
        );
    }

    #[test]
    fn apple_client_secret_is_an_es256_jwt_for_apple() {
        // A P-256 PKCS#8 key (generated for this test only).
        let key =
            sigil_token::SigningKey::generate(sigil_token::Algorithm::ES256, Some("K".into()))
                .unwrap();
        let jwk = key.to_private_jwk();
        use base64::Engine;
        let d = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk.d.as_deref().unwrap())
            .unwrap();
        // Minimal PKCS#8 wrapper around the SEC 1 ECPrivateKey.
        let mut der = vec![
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        der.extend_from_slice(&d);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let mut p = provider("apple");
        p.apple.as_mut().unwrap().private_key = crate::social_config::ClientSecret::new(pem);
        let jwt = apple_client_secret(&p, 1_800_000_000).unwrap();
        let verifier = sigil_token::Verifier::new(
            vec![key.verifying_key()].try_into().unwrap(),
            sigil_token::Validation::new("T", "https://appleid.apple.com"),
        );
        let claims = verifier.verify(&jwt, 1_800_000_010).unwrap();
        assert_eq!(claims.sub, "cid");
        assert_eq!(claims.exp, 1_800_000_300);
        let header = jwt.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        assert!(String::from_utf8(header).unwrap().contains("\"kid\":\"K\""));
    }
}
