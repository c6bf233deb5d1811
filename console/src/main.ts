/**
 * Entry of the responder console. Views are built with preact's `h`, which sets every string as a text node
 * or an attribute value: nothing here writes HTML from a string (the page's CSP requires Trusted Types, so
 * such a write would throw rather than run).
 */
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { canRead, forgetToken, INCIDENT_ID, storedToken, storeToken, whoAmI, type Session } from './api';
import { IncidentList } from './list';
import { IncidentPage } from './incident';

type Route = { view: 'list' } | { view: 'incident'; id: string };

/** The hash names the view only (`#/incidents/<id>`): never the token. Unknown hashes fall back to the list. */
function parseRoute(hash: string): Route {
  const match = /^#\/incidents\/([^/?#]+)$/.exec(hash);
  const id = match?.[1];
  return id && INCIDENT_ID.test(id) ? { view: 'incident', id } : { view: 'list' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

function Login(props: { onSession: (s: Session) => void; error?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.error ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) return;
    setBusy(true);
    setError('');
    try {
      const me = await whoAmI(value);
      storeToken(value);
      props.onSession({ token: value, ...me });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'main',
    { class: 'login' },
    h('h1', null, 'Holdfast console'),
    h(
      'form',
      { onSubmit: submit, 'aria-describedby': 'login-help' },
      h('label', { for: 'token' }, 'API token'),
      h('input', {
        id: 'token',
        name: 'token',
        type: 'password',
        autocomplete: 'off',
        spellcheck: false,
        value: token,
        onInput: (e: Event) => setToken((e.target as HTMLInputElement).value),
      }),
      h('button', { type: 'submit', disabled: busy }, busy ? 'Checking…' : 'Sign in'),
      h(
        'p',
        { id: 'login-help', class: 'hint' },
        'The token is kept in this tab only (session storage) and sent as a bearer header; close the tab or sign out to forget it.',
      ),
      error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    ),
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [loginError, setLoginError] = useState<string | undefined>();
  const route = useRoute();

  // A token from earlier in this tab: ask the API who it is (it may have been revoked meanwhile).
  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    whoAmI(token)
      .then((me) => setSession({ token, ...me }))
      .catch((err: Error) => {
        forgetToken();
        setLoginError(err.message);
      })
      .finally(() => setChecking(false));
  }, []);

  const signOut = () => {
    forgetToken();
    setSession(null);
  };
  /** A 401 on any call: the token no longer works, so forget it and ask again. */
  const onUnauthorized = (message: string) => {
    forgetToken();
    setSession(null);
    setLoginError(message);
  };

  if (checking) return h('main', { class: 'login' }, h('p', null, 'Checking the stored token…'));
  if (!session) return h(Login, { onSession: setSession, error: loginError });
  return h(
    'div',
    { class: 'app' },
    h(
      'header',
      { class: 'bar' },
      h('a', { href: '#/', class: 'brand' }, 'Holdfast'),
      h('span', { class: 'who', 'data-testid': 'who' }, `${session.name} (${session.role})`),
      h('button', { type: 'button', class: 'secondary', onClick: signOut }, 'Sign out'),
    ),
    h(
      'main',
      null,
      !canRead(session.role)
        ? h(
            'p',
            { class: 'notice', 'data-testid': 'no-access' },
            `This token's role (${session.role}) cannot read incidents: the console needs a responder or investigator token.`,
          )
        : route.view === 'incident'
          ? h(IncidentPage, { session, id: route.id, onUnauthorized, key: route.id })
          : h(IncidentList, { session, onUnauthorized }),
    ),
  );
}

const root = document.getElementById('app');
if (root) render(h(App, null), root);
