/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The Sigil and API URLs are read at run time (proxy.js, app/tasks/page.js), not baked into the
  // build: one `next build` serves any deployment.
};

export default nextConfig;
