// The mail outbox contract shared by ba-server.mjs and `sigil serve`: env SIGIL_MAIL_FILE names a file to
// which every mail is appended as one JSON line {"to","kind","url","token"}, kind being one of
// reset-password | verify-email | change-email | delete-account | two-factor-code (token: the code, url: "").
import { existsSync, readFileSync } from "node:fs";

export const MAIL_KINDS = ["reset-password", "verify-email", "change-email", "delete-account", "two-factor-code"];

export class Outbox {
  constructor(file) {
    this.file = file;
  }

  /** Every mail written so far, in order. Malformed lines are returned as {malformed: line}. */
  all() {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { malformed: l };
        }
      });
  }

  count() {
    return this.all().length;
  }

  /** Mails written after the first `since` mails, optionally filtered by kind and recipient. */
  after(since, { kind, to } = {}) {
    return this.all()
      .slice(since)
      .filter((m) => (!kind || m.kind === kind) && (!to || m.to === to));
  }

  /**
   * Waits (briefly) for a mail after index `since` that matches; returns it or null.
   * Mail callbacks are awaited before the response in Better Auth, so this normally returns at once.
   */
  async waitFor(since, filter = {}, timeoutMs = 2000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.after(since, filter);
      if (hit.length) return hit[hit.length - 1];
      if (Date.now() >= deadline) return null;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
