// A real OpenID Connect provider for the tests: panva's certified `oidc-provider`, with its
// development login and consent pages (any password; the login names one of USERS).
//
//   const idp = await startIdp({ port, clients: [{ id, secret, redirect }] });
//   idp.issuer; await idp.close();
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import Provider from "oidc-provider";

/** The people the provider knows: login -> claims. */
export const USERS = {
  ada: { email: "ada@example.com", email_verified: true, name: "Ada Lovelace" },
  grace: { email: "grace@example.com", email_verified: true, name: "Grace Hopper" },
  mallory: { email: "victim@example.com", email_verified: false, name: "Mallory" },
};

export async function startIdp({ port, clients }) {
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "idp-rs256", use: "sig", alg: "RS256" };
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      redirect_uris: [c.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: c.auth ?? "client_secret_basic",
    })),
    jwks: { keys: [jwk] },
    findAccount: async (_ctx, id) =>
      USERS[id] ? { accountId: id, claims: async () => ({ sub: `${id}-sub`, ...USERS[id] }) } : undefined,
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    pkce: { required: () => true },
    cookies: { keys: ["sigil-oidc-test-cookie-key-0123456789"] },
    features: { devInteractions: { enabled: true } },
    // Refresh tokens for every code grant (not only with offline_access).
    issueRefreshToken: async () => true,
    ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, RefreshToken: 86400, Session: 3600 },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  const server = createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    issuer,
    provider,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Goes through the provider's login and consent pages as `login` with a cookie jar of its own,
 * from the authorization URL to the redirect back to `until` (Sigil's or Better Auth's
 * callback); returns that URL.
 */
export async function authorizeAs(authorizationUrl, login, until) {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  const remember = (res) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
  };
  let url = authorizationUrl;
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(until)) return url;
    let res = await fetch(url, { redirect: "manual", headers: { cookie: cookieHeader() } });
    remember(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get("location"), url).toString();
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no form at ${url}: ${html.slice(0, 300)}`);
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    const body = prompt === "login" ? new URLSearchParams({ prompt, login, password: "any" }) : new URLSearchParams({ prompt });
    res = await fetch(new URL(action, url), {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookieHeader(), "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    remember(res);
    if (!(res.status >= 300 && res.status < 400)) throw new Error(`provider form answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    url = new URL(res.headers.get("location"), url).toString();
  }
  throw new Error("too many redirects at the provider");
}
