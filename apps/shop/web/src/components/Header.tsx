import { type FormEvent } from 'react';
import { useReflexErrors, useReflexEvent, useReflexState } from '@reflex-bridge/react';
import { AccountState, CartState } from '../generated/reflex-states.js';
import { connectionNoticeText } from '../connection-notice.js';
import { Link } from '../router.js';
import { AvatarUpload } from './AvatarUpload.js';

/** The shop's header: brand, navigation, and the account (status, login form or logout, avatar). */
export function Header() {
  const account = useReflexState(AccountState);
  const cart = useReflexState(CartState);
  const { connectionError, dismiss } = useReflexErrors();
  return (
    <header className="topbar">
      <div className="brand">
        <Link to="/" className="logo">
          <span className="logo-mark">◆</span> ReflexBridge shop
        </Link>
        <nav>
          <Link to="/">Catalogue</Link>
          <Link to="/cart" data-testid="nav-cart">
            Cart <span className="badge">{cart?.count ?? 0}</span>
          </Link>
        </nav>
      </div>
      <div id="account">
        <span id="status" data-testid="status" className={account?.isAuthenticated ? 'status signed-in' : 'status'}>
          {account === undefined ? 'connecting…' : account.isAuthenticated ? `Signed in as ${account.username}` : 'Not signed in'}
        </span>
        {account && !account.isAuthenticated && <LoginForm />}
        {account?.isAuthenticated && <LogoutButton />}
        {account?.isAuthenticated && <AvatarUpload url={account.avatarUrl} />}
        <LoginError message={account?.loginError ?? ''} />
      </div>
      {connectionError && (
        <p className="connection-error" data-testid="connection-error" role="status">
          {connectionNoticeText(connectionError)}
          {/* Events that may not have run stay shown past the reconnection: the user closes the notice. */}
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(connectionError)}>
            ×
          </button>
        </p>
      )}
    </header>
  );
}

function LoginForm() {
  const login = useReflexEvent(AccountState.login);
  const submit = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    login({ username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') });
  };
  return (
    <form id="login-form" onSubmit={submit}>
      <input name="username" placeholder="username" autoComplete="username" defaultValue="demo" aria-label="Username" />
      <input name="password" type="password" placeholder="password" autoComplete="current-password" defaultValue="demo123" aria-label="Password" />
      <button type="submit" className="primary">
        Log in
      </button>
    </form>
  );
}

function LogoutButton() {
  const logout = useReflexEvent(AccountState.logout);
  return (
    <button id="logout" type="button" onClick={() => logout()}>
      Log out
    </button>
  );
}

/** The login form's refusal (wrong password from the state, or the rate limit from the errors). */
function LoginError({ message }: { message: string }) {
  const { errors } = useReflexErrors();
  const limited = errors.findLast((error) => error.code === 'rate_limited' && error.event === `${AccountState.$state}.login`);
  const text = message || limited?.message || '';
  return (
    <span id="login-error" className="error" data-testid="login-error">
      {text}
    </span>
  );
}
