'use client';
// The official Better Auth client, unchanged, pointed at this app's own origin: proxy.js forwards
// /api/auth/* to Sigil, so the session cookie is first-party and no CORS is involved.
import { createAuthClient } from 'better-auth/react';
import { jwtClient } from 'better-auth/client/plugins';

export const authClient = createAuthClient({ plugins: [jwtClient()] });
