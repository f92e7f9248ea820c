// The official Better Auth browser client with `@better-auth/passkey`'s `passkeyClient()`,
// bundled by passkeys.mjs (esbuild) and loaded into Sigil's own pages as a same-origin script,
// so that the passkey browser test also drives the client applications use.
import { createAuthClient } from 'better-auth/client';
import { passkeyClient } from '@better-auth/passkey/client';

window.officialClient = createAuthClient({ baseURL: location.origin, plugins: [passkeyClient()] });
