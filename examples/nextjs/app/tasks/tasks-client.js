'use client';
// The tasks page: a JWT from Sigil (better-auth's jwtClient), kept in memory, sent to the FastAPI
// backend as Authorization: Bearer, renewed before it expires and once after a 401.
import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useRef, useState } from 'react';
import { authClient } from '@/lib/auth-client';
import { TokenSource } from '@/lib/jwt';

export default function TasksClient({ apiUrl }) {
  const router = useRouter();
  const tokens = useRef(null);
  const [user, setUser] = useState(null);
  const [tasks, setTasks] = useState([]);
  const [error, setError] = useState('');
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');

  const toSignIn = useCallback(() => router.replace('/sign-in?next=/tasks'), [router]);

  // One call to the API: Bearer JWT, no cookies; a 401 gets one fresh JWT and one retry.
  const api = useCallback(
    async (method, path = '', body) => {
      const source = tokens.current;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const jwt = attempt === 0 ? await source.get() : await source.refresh();
        if (!jwt) return null;
        const response = await fetch(`${apiUrl}/api/${encodeURIComponent(source.claims.sub)}/tasks${path}`, {
          method,
          credentials: 'omit',
          headers: {
            Authorization: `Bearer ${jwt}`,
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (response.status === 401 && attempt === 0) continue;
        if (!response.ok) {
          const detail = await response.json().catch(() => ({}));
          throw new Error(detail.message ?? `The API answered ${response.status}`);
        }
        return response.status === 204 ? null : response.json();
      }
      toSignIn();
      return null;
    },
    [apiUrl, toSignIn],
  );

  const load = useCallback(async () => {
    try {
      const list = await api('GET');
      if (list) setTasks(list);
    } catch (e) {
      setError(e.message);
    }
  }, [api]);

  useEffect(() => {
    const source = new TokenSource();
    source.onSignedOut = toSignIn;
    tokens.current = source;
    (async () => {
      if (!(await source.get())) return;
      setUser({ id: source.claims.sub, email: source.claims.email, name: source.claims.name });
      await load();
    })();
    return () => source.clear();
  }, [load, toSignIn]);

  async function add(event) {
    event.preventDefault();
    setError('');
    try {
      const task = await api('POST', '', { title, description });
      if (task) {
        setTasks((list) => [...list, task]);
        setTitle('');
        setDescription('');
      }
    } catch (e) {
      setError(e.message);
    }
  }

  async function toggle(task) {
    try {
      const updated = await api('PATCH', `/${task.id}/complete`, { completed: !task.completed });
      if (updated) setTasks((list) => list.map((t) => (t.id === updated.id ? updated : t)));
    } catch (e) {
      setError(e.message);
    }
  }

  async function remove(task) {
    try {
      await api('DELETE', `/${task.id}`);
      setTasks((list) => list.filter((t) => t.id !== task.id));
    } catch (e) {
      setError(e.message);
    }
  }

  async function signOut() {
    tokens.current?.clear();
    await authClient.signOut();
    router.replace('/sign-in');
  }

  if (!user) return <p aria-busy="true">Loading…</p>;
  return (
    <section className="card">
      <header className="bar">
        <h1>{user.name ? `${user.name}'s tasks` : 'Tasks'}</h1>
        <span className="who">{user.email}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <form onSubmit={add} className="add">
        <label>
          Title
          <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} required />
        </label>
        <label>
          Notes
          <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1000} />
        </label>
        <button type="submit">Add task</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <ul aria-label="Tasks" className="tasks">
        {tasks.map((task) => (
          <li key={task.id}>
            <label>
              <input type="checkbox" checked={task.completed} onChange={() => toggle(task)} />
              <span className={task.completed ? 'done' : ''}>{task.title}</span>
            </label>
            {task.description && <small>{task.description}</small>}
            <button type="button" onClick={() => remove(task)} aria-label={`Delete ${task.title}`}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      {tasks.length === 0 && <p>No tasks yet.</p>}
    </section>
  );
}
