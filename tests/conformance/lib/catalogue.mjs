// Renders the generated part of BETTER-AUTH-OBSERVED.md: every exchange of every scenario, as sent and
// received by the real Better Auth server, with run-specific values replaced by placeholders. The
// hand-written part of the file (everything outside the markers) is kept as it is.

export const BEGIN = "<!-- BEGIN GENERATED: node run.mjs --only-better-auth --catalogue -->";
export const END = "<!-- END GENERATED -->";

const REQUEST_HEADERS = ["content-type", "origin", "referer", "cookie", "authorization", "sec-fetch-site", "sec-fetch-mode"];

function fence(lines) {
  return ["```http", ...lines, "```"].join("\n");
}

function renderExchange(x) {
  const lines = [x.request];
  for (const h of REQUEST_HEADERS) if (x.requestHeaders[h] !== undefined) lines.push(`${h}: ${x.requestHeaders[h]}`);
  if (x.requestBody !== undefined && x.requestBody !== "") lines.push("", x.requestBody);
  lines.push("", `→ ${x.status} ${x.statusText}`);
  for (const [k, v] of Object.entries(x.headers).sort(([a], [b]) => a.localeCompare(b))) lines.push(`${k}: ${v}`);
  for (const c of x.setCookies) lines.push(`set-cookie: ${c}`);
  lines.push("", x.body === "" ? "(empty body)" : x.body);
  return fence(lines);
}

export function renderGenerated(exchanges, { version }) {
  const out = [
    BEGIN,
    "",
    `## Appendix: every observed exchange (better-auth@${version}, generated)`,
    "",
    "Placeholders: `<origin>` = the server origin (`http://127.0.0.1:PORT`); `<alnumN>` = N random characters",
    "from `[A-Za-z0-9]`; `<alnum32>.<hmac-b64>` = a signed session token (token, a dot, standard-base64 HMAC-SHA256",
    "with `=` padding); `…<hmac-b64-urlencoded>` = the same URL-encoded (`%2B`, `%2F`, `%3D`) as it appears in the",
    "cookie; `true.<hmac-b64>` = the signed `dont_remember` value; `<jwt>` = a compact JWT; `<date>` = an ISO-8601",
    "UTC timestamp with milliseconds (`2026-11-24T12:24:53.218Z`); `<b64url43>` = 43 base64url characters.",
    "Request bodies are as the official client sent them. `→` introduces the response. Hop-by-hop headers",
    "(date, connection, keep-alive, transfer-encoding) are left out.",
    "",
  ];
  for (const [scenario, steps] of Object.entries(exchanges)) {
    out.push(`### Scenario \`${scenario}\``, "");
    for (const s of steps) {
      out.push(`#### \`${s.step}\``, "");
      s.exchanges.forEach((x, i) => {
        if (s.exchanges.length > 1) out.push(`(request ${i + 1} of ${s.exchanges.length}, device ${x.device})`, "");
        out.push(renderExchange(x), "");
      });
    }
  }
  out.push(END);
  return out.join("\n");
}

/** Replaces the generated section of `current` (or appends one) and returns the new file text. */
export function renderCatalogue(current, exchanges, meta) {
  const generated = renderGenerated(exchanges, meta);
  const b = current.indexOf(BEGIN);
  const e = current.indexOf(END);
  if (b >= 0 && e > b) return current.slice(0, b) + generated + current.slice(e + END.length);
  const head = current.trim() ? `${current.trimEnd()}\n\n` : "# Better Auth 1.7.25 — observed behaviour\n\n";
  return `${head}${generated}\n`;
}
