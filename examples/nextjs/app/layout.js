import './globals.css';

export const metadata = {
  title: 'Tasks — Next.js + FastAPI on Sigil',
  description: 'The seed stack: Next.js with the Better Auth client, a FastAPI backend, Sigil in between.',
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <main>{children}</main>
      </body>
    </html>
  );
}
