// The dashboard: a login form until there is a session, then the shell (navigation) around the
// page of the current hash route. Read-only: it only ever GETs (and POSTs the login).
import { useMemo, useState } from 'preact/hooks';
import { Api, ApiError, login } from './api.js';
import { ApiContext, SessionContext } from './hooks.js';
import { href, navigate, useRoute, type Route } from './router.js';
import { loadSession, saveSession, type Session } from './session.js';
import { OverviewPage } from './pages/overview.js';
import { JobsPage } from './pages/jobs.js';
import { JobDetailPage } from './pages/job-detail.js';
import { DeadLetterPage } from './pages/dead-letter.js';
import { NodesPage } from './pages/nodes.js';
import { NodeDetailPage } from './pages/node-detail.js';

export function App() {
  const [session, setSession] = useState<Session | undefined>(() => loadSession());
  const signOut = (): void => {
    saveSession(undefined);
    setSession(undefined);
  };
  const api = useMemo(() => (session === undefined ? undefined : new Api(session, signOut)), [session]);
  if (session === undefined || api === undefined) {
    return (
      <LoginPage
        onSession={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  return (
    <ApiContext.Provider value={api}>
      <SessionContext.Provider value={{ username: session.username, role: session.role }}>
        <Shell session={session} onSignOut={signOut} />
      </SessionContext.Provider>
    </ApiContext.Provider>
  );
}

function LoginPage({ onSession }: { onSession: (session: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const answer = await login(username, password);
      onSession({ token: answer.token, username: answer.username, role: answer.role, expiresAt: answer.expiresAt });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'the server cannot be reached');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="login-box" onSubmit={(e) => void submit(e)} data-testid="login-form">
        <h1>
          <img src="/assets/favicon.svg" alt="" width={28} height={28} /> Open Scheduler
        </h1>
        <label>
          User name
          <input id="username" name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
        </label>
        <label>
          Password
          <input id="password" name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error !== undefined && (
          <p class="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">Any account works; the dashboard only reads. Create one with <code>osctl user create NAME --role viewer</code>.</p>
      </form>
    </main>
  );
}

const NAV: readonly { readonly id: string; readonly label: string; readonly segments: readonly string[] }[] = [
  { id: 'overview', label: 'Overview', segments: [] },
  { id: 'jobs', label: 'Jobs', segments: ['jobs'] },
  { id: 'dlq', label: 'Dead letters', segments: ['dlq'] },
  { id: 'nodes', label: 'Nodes', segments: ['nodes'] },
];

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const section = route.segments[0] ?? '';
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href={href([])}>
          <img src="/assets/favicon.svg" alt="" width={22} height={22} /> Open Scheduler
        </a>
        <nav>
          {NAV.map((item) => (
            <a key={item.id} href={href(item.segments)} class={(item.segments[0] ?? '') === section ? 'active' : ''} data-testid={`nav-${item.id}`}>
              {item.label}
            </a>
          ))}
        </nav>
        <span class="whoami" data-testid="whoami">
          {session.username} <span class="role">{session.role}</span>
        </span>
        <button class="link" onClick={onSignOut} data-testid="logout">
          Sign out
        </button>
      </header>
      <main class="page">
        <Page route={route} />
      </main>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  const [section, a, b] = route.segments;
  switch (section) {
    case undefined:
      return <OverviewPage />;
    case 'jobs':
      if (a !== undefined && b !== undefined) return <JobDetailPage namespace={a} name={b} />;
      return <JobsPage query={route.query} />;
    case 'dlq':
      return <DeadLetterPage query={route.query} />;
    case 'nodes':
      if (a !== undefined) return <NodeDetailPage name={a} />;
      return <NodesPage />;
    default:
      return (
        <section>
          <h2>Not found</h2>
          <p>
            There is no page <code>{location.hash}</code>. <a href={href([])} onClick={() => navigate([])}>Overview</a>
          </p>
        </section>
      );
  }
}
