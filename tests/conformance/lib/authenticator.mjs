// A software WebAuthn authenticator for Node, installed as the browser API the official client's
// `passkeyClient()` calls (`@simplewebauthn/browser`'s startRegistration/startAuthentication use
// `navigator.credentials.create/get` and `PublicKeyCredential`). So the official client runs
// unchanged: it fetches the options, "the browser" answers them here, and the client posts the
// answer through the device's fetch, exactly as in a browser.
//
// Each credential is an ES256 (P-256) key made with node:crypto. Registration answers carry a
// "none" attestation: a CBOR attestation object {fmt, attStmt, authData} whose authData holds the
// SHA-256 of the rp id, the flags (UP, UV, AT), the counter, a zero AAGUID, the credential id and
// the COSE public key. Assertions sign authData || SHA-256(clientDataJSON) (DER ECDSA), as a real
// authenticator does.
//
// `authenticator.next` lets a step lie, once, the way an attacker or a broken device would: another
// origin or rp id in what is signed, no user verification, a given counter, another credential.

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

// --- a tiny CBOR encoder (RFC 8949): unsigned/negative integers, byte and text strings, maps -------------
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value) {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error("cbor: integers only");
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  }
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  if (value && typeof value === "object") return cbor(new Map(Object.entries(value)));
  throw new Error(`cbor: cannot encode ${typeof value}`);
}

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const fromB64url = (s) => Buffer.from(s, "base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();
/** An ArrayBuffer holding exactly these bytes (what the browser API hands out). */
const arrayBuffer = (buf) => Uint8Array.from(buf).buffer;
const bytesOf = (source) => Buffer.from(source instanceof ArrayBuffer ? new Uint8Array(source) : source);

function counterBytes(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** The authenticator: its credentials, the page origin it answers for, and one-shot lies. */
export class SoftAuthenticator {
  constructor() {
    /** @type {{id: Buffer, rpId: string, userHandle: Buffer, privateKey: any, publicKey: any, counter: number, owner: string}[]} */
    this.credentials = [];
    /** The page's origin (what a browser puts in clientDataJSON). */
    this.origin = "";
    /** Overrides for the next ceremony only: {origin, rpId, userVerified, counter, credential, userHandle}. */
    this.next = {};
    /** Label given to the next created credential (the harness's name for its user). */
    this.owner = "";
  }

  /** Takes (and clears) the one-shot overrides. */
  lie() {
    const l = this.next;
    this.next = {};
    return l;
  }

  clientData(type, challenge, lie) {
    return Buffer.from(
      JSON.stringify({ type, challenge: b64url(bytesOf(challenge)), origin: lie.origin ?? this.origin, crossOrigin: false }),
    );
  }

  async create({ publicKey }) {
    const lie = this.lie();
    const rpId = publicKey.rp?.id ?? new URL(this.origin).hostname;
    const excluded = (publicKey.excludeCredentials ?? []).map((c) => b64url(bytesOf(c.id)));
    if (this.credentials.some((c) => c.rpId === rpId && excluded.includes(b64url(c.id)))) {
      const e = new Error("The authenticator was previously registered");
      e.name = "InvalidStateError";
      throw e;
    }
    if (!(publicKey.pubKeyCredParams ?? []).some((p) => p.alg === -7)) throw new Error("ES256 not offered");
    const { privateKey, publicKey: pub } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = pub.export({ format: "jwk" });
    const id = randomBytes(16);
    const cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, fromB64url(jwk.x)], [-3, fromB64url(jwk.y)]]));
    const flags = UP | (lie.userVerified === false ? 0 : UV) | AT;
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const authData = Buffer.concat([sha256(lie.rpId ?? rpId), Buffer.from([flags]), counterBytes(0), Buffer.alloc(16), idLen, id, cose]);
    const attestationObject = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    const clientDataJSON = this.clientData("webauthn.create", publicKey.challenge, lie);
    const userHandle = bytesOf(publicKey.user.id);
    this.credentials.push({ id, rpId, userHandle, privateKey, publicKey: pub, counter: 0, owner: this.owner });
    const spki = pub.export({ format: "der", type: "spki" });
    return {
      id: b64url(id),
      rawId: arrayBuffer(id),
      type: "public-key",
      authenticatorAttachment: "platform",
      response: {
        clientDataJSON: arrayBuffer(clientDataJSON),
        attestationObject: arrayBuffer(attestationObject),
        getTransports: () => ["internal"],
        getPublicKeyAlgorithm: () => -7,
        getPublicKey: () => arrayBuffer(spki),
        getAuthenticatorData: () => arrayBuffer(authData),
      },
      getClientExtensionResults: () => ({}),
    };
  }

  async get({ publicKey }) {
    const lie = this.lie();
    const rpId = publicKey.rpId ?? new URL(this.origin).hostname;
    const allowed = (publicKey.allowCredentials ?? []).map((c) => b64url(bytesOf(c.id)));
    let credential = lie.credential;
    if (!credential) {
      const mine = this.credentials.filter((c) => c.rpId === rpId && (!allowed.length || allowed.includes(b64url(c.id))));
      credential = mine[mine.length - 1];
    }
    if (!credential) {
      const e = new Error("No credential for this site");
      e.name = "NotAllowedError";
      throw e;
    }
    // A lied counter (a clone that is behind) leaves the real one where it was.
    const counter = lie.counter ?? ++credential.counter;
    const flags = UP | (lie.userVerified === false ? 0 : UV);
    const authData = Buffer.concat([sha256(lie.rpId ?? rpId), Buffer.from([flags]), counterBytes(counter)]);
    const clientDataJSON = this.clientData("webauthn.get", publicKey.challenge, lie);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id: b64url(credential.id),
      rawId: arrayBuffer(credential.id),
      type: "public-key",
      authenticatorAttachment: "platform",
      response: {
        clientDataJSON: arrayBuffer(clientDataJSON),
        authenticatorData: arrayBuffer(authData),
        signature: arrayBuffer(signature),
        userHandle: arrayBuffer(lie.userHandle ?? credential.userHandle),
      },
      getClientExtensionResults: () => ({}),
    };
  }
}

/** The authenticator of the flow running in the current async context (targets run concurrently). */
const current = new AsyncLocalStorage();

/** Runs `fn` with `authenticator` answering the WebAuthn calls it makes (through any await). */
export function withAuthenticator(authenticator, fn) {
  installAuthenticator();
  return current.run(authenticator, fn);
}

function active() {
  const a = current.getStore();
  if (!a) throw Object.assign(new Error("no authenticator in this flow"), { name: "NotAllowedError" });
  return a;
}

/**
 * Installs the dispatcher as this process's WebAuthn API (`PublicKeyCredential`,
 * `navigator.credentials`), what @simplewebauthn/browser looks for.
 */
function installAuthenticator() {
  if (typeof globalThis.PublicKeyCredential !== "function") {
    globalThis.PublicKeyCredential = class PublicKeyCredential {
      static async isUserVerifyingPlatformAuthenticatorAvailable() {
        return true;
      }
    };
  }
  const credentials = {
    create: (options) => active().create(options),
    get: (options) => active().get(options),
  };
  if (globalThis.navigator) {
    Object.defineProperty(globalThis.navigator, "credentials", { value: credentials, configurable: true });
  } else {
    Object.defineProperty(globalThis, "navigator", { value: { credentials }, configurable: true, writable: true });
  }
}
