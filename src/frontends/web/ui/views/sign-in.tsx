// Sign-in with an API token, or automatically with the one-time code of a link printed by `npm start`.
import { useEffect, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';

export function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const exchange = async (body: { token: string } | { code: string }) => {
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api<Me>('POST', '/api/session', body));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const m = /[?&]code=([\w-]+)/.exec(location.hash);
    if (m) {
      history.replaceState(null, '', '#/sign-in');
      void exchange({ code: m[1]! });
    }
  }, []);

  return (
    <main class="sign-in">
      <h1>Switchboard</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void exchange({ token: token.trim() });
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <p class="hint">A token from HUB_API_TOKENS, or open the sign-in link that `npm start` prints.</p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
