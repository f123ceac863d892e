// The dashboard: sign-in, then board, list, timeline, task detail and admin views, updated live over /ws.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Me, setCsrf } from './api.ts';
import { live } from './live.ts';
import { store } from './store.ts';
import { AdminView } from './views/admin.tsx';
import { BoardView } from './views/board.tsx';
import { ListView } from './views/list.tsx';
import { SignIn } from './views/sign-in.tsx';
import { SubmitForm } from './views/submit.tsx';
import { TaskView } from './views/task.tsx';
import { TimelineView } from './views/timeline.tsx';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App() {
  const hash = useHash();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [connected, setConnected] = useState(false);

  useEffect(() => live.onStatus(setConnected), []);
  useEffect(() => {
    api<Me>('GET', '/api/session').then(
      (m) => signedIn(m),
      (err) => setMe(err instanceof ApiError && err.status === 401 ? null : null),
    );
  }, []);

  const signedIn = (m: Me) => {
    setCsrf(m.csrfToken);
    setMe(m);
    live.start();
    void store.load();
    if (location.hash.startsWith('#/sign-in')) location.hash = '#/board';
  };
  useEffect(() => (me ? store.follow() : undefined), [me]);

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={signedIn} />;

  const signOut = async () => {
    await api('DELETE', '/api/session').catch(() => {});
    live.stop();
    setMe(null);
    location.hash = '#/sign-in';
  };
  const route = hash.replace(/^#\/?/, '') || 'board';
  const [page, arg] = route.split('/');
  const nav: Array<[string, string]> = [
    ['board', 'Board'],
    ['list', 'List'],
    ['timeline', 'Timeline'],
    ...(me.isAdmin ? ([['admin', 'Admin']] as Array<[string, string]>) : []),
  ];
  return (
    <>
      <header class="top">
        <strong class="brand">Switchboard</strong>
        <nav aria-label="Views">
          {nav.map(([key, label]) => (
            <a key={key} href={`#/${key}`} aria-current={page === key ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          <span class={connected ? 'dot on' : 'dot'} role="status" aria-label={connected ? 'Live' : 'Reconnecting'} />
          {me.userId}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        {page === 'task' && arg ? (
          <TaskView id={arg} />
        ) : page === 'list' ? (
          <ListView />
        ) : page === 'timeline' ? (
          <TimelineView me={me} />
        ) : page === 'admin' && me.isAdmin ? (
          <AdminView me={me} />
        ) : (
          <>
            <SubmitForm />
            <BoardView isAdmin={me.isAdmin} />
          </>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
