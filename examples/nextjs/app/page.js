import { redirect } from 'next/navigation';

// proxy.js has already sent signed-out visitors to /sign-in.
export default function Home() {
  redirect('/tasks');
}
