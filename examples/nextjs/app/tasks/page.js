import { connection } from 'next/server';
import TasksClient from './tasks-client';

// The API's URL is read when the page is requested (API_URL), not when the app is built.
export default async function TasksPage() {
  await connection();
  const apiUrl = (process.env.API_URL ?? 'http://127.0.0.1:8000').replace(/\/$/, '');
  return <TasksClient apiUrl={apiUrl} />;
}
