// Runs before every matched request (Next.js 16 "proxy", formerly middleware), on the server.
//
// 1. /api/auth/* is forwarded to Sigil (SIGIL_URL, read at run time): the browser talks to one
//    origin, the session cookie is first-party, no CORS with credentials is needed, and Sigil's
//    origin check sees this app's origin (list it in Sigil's SIGIL_TRUSTED_ORIGINS).
// 2. Pages for signed-in users (/tasks) ask Sigil whether the session cookie still names a live
//    session; signed-out (or revoked) visitors are sent to /sign-in?next=..., and signed-in ones
//    skip /sign-in and /sign-up.
import { NextResponse } from 'next/server';

const sigilUrl = () => process.env.SIGIL_URL ?? 'http://127.0.0.1:8080';

async function liveSession(request) {
  const cookie = request.headers.get('cookie');
  if (!cookie || !cookie.includes('session_token')) return false;
  try {
    const response = await fetch(`${sigilUrl()}/api/auth/get-session`, {
      headers: { cookie },
      cache: 'no-store',
    });
    return response.ok && (await response.json()) !== null;
  } catch {
    return false;
  }
}

export async function proxy(request) {
  const { pathname, search } = request.nextUrl;
  if (pathname.startsWith('/api/auth/')) {
    // Only Sigil's /api/auth/*: a path that resolves elsewhere (`%2e%2e` segments) is not forwarded.
    const target = new URL(`${pathname}${search}`, sigilUrl());
    if (!target.pathname.startsWith('/api/auth/')) return new NextResponse(null, { status: 404 });
    return NextResponse.rewrite(target);
  }
  const live = await liveSession(request);
  if (pathname === '/sign-in' || pathname === '/sign-up') {
    return live ? NextResponse.redirect(new URL('/tasks', request.url)) : NextResponse.next();
  }
  if (!live) {
    const to = new URL('/sign-in', request.url);
    to.searchParams.set('next', `${pathname}${search}`);
    return NextResponse.redirect(to);
  }
  return NextResponse.next();
}

export const config = {
  matcher: ['/api/auth/:path*', '/', '/tasks/:path*', '/sign-in', '/sign-up'],
};
