'use client';
// The sign-in and sign-up form: the official client's signIn.email / signUp.email, with Sigil's
// (Better Auth's) error codes turned into sentences next to the form.
import { useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { authClient } from '@/lib/auth-client';

const MESSAGES = {
  INVALID_EMAIL_OR_PASSWORD: 'Wrong email or password.',
  USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: 'An account already uses this email.',
  PASSWORD_TOO_SHORT: 'The password needs at least 8 characters.',
  PASSWORD_TOO_LONG: 'The password can have at most 128 characters.',
  INVALID_EMAIL: 'This is not a valid email address.',
};

function safeNext(next) {
  // Only paths of this app: never an absolute or protocol-relative URL (`//host`, and `/\host`,
  // which browsers read the same way).
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/tasks';
  const url = new URL(next, window.location.origin);
  return url.origin === window.location.origin ? `${url.pathname}${url.search}` : '/tasks';
}

export default function AuthForm({ mode }) {
  const router = useRouter();
  const params = useSearchParams();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const signUp = mode === 'sign-up';

  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError('');
    const email = String(form.get('email'));
    const password = String(form.get('password'));
    const { error } = signUp
      ? await authClient.signUp.email({ name: String(form.get('name')), email, password })
      : await authClient.signIn.email({ email, password });
    setBusy(false);
    if (error) {
      setError(MESSAGES[error.code] ?? error.message ?? `Error ${error.status}`);
      return;
    }
    router.replace(safeNext(params.get('next')));
  }

  return (
    <form onSubmit={submit} className="card" aria-describedby={error ? 'form-error' : undefined}>
      <h1>{signUp ? 'Create an account' : 'Sign in'}</h1>
      {signUp && (
        <label>
          Name
          <input name="name" autoComplete="name" required />
        </label>
      )}
      <label>
        Email
        <input name="email" type="email" autoComplete="email" required />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete={signUp ? 'new-password' : 'current-password'}
          minLength={8}
          required
        />
      </label>
      {error && (
        <p id="form-error" role="alert" className="error">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {signUp ? 'Sign up' : 'Sign in'}
      </button>
      <p>
        {signUp ? (
          <>Already have an account? <a href="/sign-in">Sign in</a></>
        ) : (
          <>No account yet? <a href="/sign-up">Sign up</a></>
        )}
      </p>
    </form>
  );
}
