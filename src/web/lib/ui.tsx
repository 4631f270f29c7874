import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, onUnauthorized, setToken } from "./api";
import { humanStatus } from "./format";
import { ReadSourceNote } from "./read-source";
import { clearToken, loadToken, type Surface, saveToken, takeTokenFromFragment } from "./session";

/* ---------- sign-in gate ---------- */

interface GateProps {
  surface: Surface;
  title: string;
  credential: string;
  placeholder: string;
  hint: ComponentChildren;
  children: (signOut: () => void) => ComponentChildren;
}

/** Shows the sign-in form until a credential is stored; a 401 from any call lands on a clear screen. */
export function AuthGate(props: GateProps) {
  const [token, setTokenState] = useState<string | null>(() => {
    takeTokenFromFragment(props.surface);
    const stored = loadToken(props.surface);
    setToken(stored);
    return stored;
  });
  const [rejected, setRejected] = useState(false);

  useEffect(
    () =>
      onUnauthorized(() => {
        clearToken(props.surface);
        setToken(null);
        setTokenState(null);
        setRejected(true);
      }),
    [props.surface],
  );

  const signOut = useCallback(() => {
    clearToken(props.surface);
    setToken(null);
    setTokenState(null);
    setRejected(false);
  }, [props.surface]);

  if (!token) {
    return (
      <SignIn
        {...props}
        rejected={rejected}
        onSubmit={(value) => {
          saveToken(props.surface, value);
          setToken(value);
          setRejected(false);
          setTokenState(value);
        }}
      />
    );
  }
  return <>{props.children(signOut)}</>;
}

function SignIn(props: GateProps & { rejected: boolean; onSubmit: (token: string) => void }) {
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <main class="signin">
      <form
        class="card signin-card"
        onSubmit={(event) => {
          event.preventDefault();
          if (value.trim()) props.onSubmit(value.trim());
        }}
      >
        <p class="brand">
          <span class="brand-mark" aria-hidden="true">
            ⇉
          </span>{" "}
          Twinrail
        </p>
        <h1>{props.title}</h1>
        {props.rejected ? (
          <div class="alert alert-error" role="alert" data-testid="signin-rejected">
            <strong>That {props.credential} was not accepted.</strong> It may be mistyped, revoked, expired,
            or meant for another surface. Sign in again with a valid one.
          </div>
        ) : null}
        <label for="token">{props.credential}</label>
        <input
          id="token"
          ref={input}
          type="password"
          autoComplete="off"
          spellcheck={false}
          placeholder={props.placeholder}
          value={value}
          onInput={(event) => setValue((event.target as HTMLInputElement).value)}
        />
        <p class="muted small">{props.hint}</p>
        <button class="btn btn-primary" type="submit" disabled={!value.trim()}>
          Sign in
        </button>
        <p class="muted small">Kept in this tab's session storage only; closing the tab signs you out.</p>
      </form>
    </main>
  );
}

/* ---------- layout ---------- */

export interface Tab {
  id: string;
  label: string;
}

export function Shell(props: {
  surface: string;
  subtitle?: ComponentChildren;
  tabs?: Tab[];
  active?: string;
  onTab?: (id: string) => void;
  onSignOut?: () => void;
  children: ComponentChildren;
}) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <a class="brand" href="/">
            <span class="brand-mark" aria-hidden="true">
              ⇉
            </span>{" "}
            Twinrail
          </a>
          <span class="surface">{props.surface}</span>
          {props.subtitle ? <span class="subtitle">{props.subtitle}</span> : null}
          <ReadSourceNote />
          <span class="spacer" />
          {props.onSignOut ? (
            <button type="button" class="btn btn-ghost" onClick={props.onSignOut}>
              Sign out
            </button>
          ) : null}
        </div>
        {props.tabs ? (
          <nav class="tabs" aria-label="Sections">
            {props.tabs.map((tab) => (
              <a
                key={tab.id}
                href={`#/${tab.id}`}
                class={tab.id === props.active ? "tab active" : "tab"}
                aria-current={tab.id === props.active ? "page" : undefined}
              >
                {tab.label}
              </a>
            ))}
          </nav>
        ) : null}
      </header>
      <main id="main" class="content">
        {props.children}
      </main>
    </>
  );
}

/** Current `#/tab` route, defaulting to the first tab. */
export function useHashTab(tabs: Tab[]): string {
  const read = () => {
    const id = window.location.hash.replace(/^#\/?/, "").split("/")[0] ?? "";
    return tabs.some((tab) => tab.id === id) ? id : (tabs[0]?.id ?? "");
  };
  const [tab, setTab] = useState(read);
  useEffect(() => {
    const onHash = () => setTab(read());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  });
  return tab;
}

/* ---------- small pieces ---------- */

export function Section(props: {
  title: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
  id?: string;
}) {
  return (
    <section class="card" aria-labelledby={props.id ? `${props.id}-title` : undefined} data-testid={props.id}>
      <div class="card-head">
        <h2 id={props.id ? `${props.id}-title` : undefined}>{props.title}</h2>
        {props.actions ? <div class="card-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  );
}

export function Stat(props: {
  label: string;
  value: ComponentChildren;
  hint?: ComponentChildren;
  testid?: string;
}) {
  return (
    <div class="stat" data-testid={props.testid}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.hint ? <div class="stat-hint">{props.hint}</div> : null}
    </div>
  );
}

const STATUS_TONE: Record<string, string> = {
  pending_approval: "warn",
  pending: "warn",
  held: "warn",
  approved: "info",
  minting: "info",
  claimed: "info",
  signed: "info",
  broadcast: "info",
  due: "info",
  in_payout: "info",
  minted: "ok",
  confirmed: "ok",
  paid: "ok",
  ok: "ok",
  rejected: "bad",
  failed: "bad",
  cancelled: "muted",
};

export function StatusBadge(props: { status: string }) {
  return (
    <span class={`badge badge-${STATUS_TONE[props.status] ?? "muted"}`}>
      {props.status.replace(/_/g, " ")}
    </span>
  );
}

export function Loading(props: { label?: string }) {
  return (
    <p class="muted" aria-live="polite">
      {props.label ?? "Loading…"}
    </p>
  );
}

/** Error display that turns a missing endpoint into a calm "not available yet" notice. */
export function ErrorNote(props: { error: ApiError; what: string }) {
  if (props.error.notAvailable) {
    return (
      <div class="alert alert-info" data-testid="not-available">
        <strong>{props.what} is not available on this server yet.</strong> This page will show it as soon as
        the endpoint is deployed; nothing is wrong with your data.
      </div>
    );
  }
  return (
    <div class="alert alert-error" role="alert">
      <strong>Could not load {props.what.toLowerCase()}:</strong> {props.error.message}
      {props.error.requestId ? <span class="muted small"> (request {props.error.requestId})</span> : null}
    </div>
  );
}

export function CopyButton(props: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="btn btn-small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(props.text);
        } catch {
          const area = document.createElement("textarea");
          area.value = props.text;
          document.body.append(area);
          area.select();
          document.execCommand("copy");
          area.remove();
        }
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      <span aria-live="polite">{copied ? "Copied ✓" : (props.label ?? "Copy")}</span>
    </button>
  );
}

/** A modal dialog built on <dialog>: focus trapped, Esc closes. */
export function Dialog(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="dialog" onClose={props.onClose} aria-labelledby="dialog-title">
      <h2 id="dialog-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

export function Toasts(props: {
  items: Array<{ id: number; tone: "ok" | "error"; text: string }>;
  onDismiss: (id: number) => void;
}) {
  return (
    <div class="toasts" aria-live="polite">
      {props.items.map((toast) => (
        <div
          key={toast.id}
          class={`toast toast-${toast.tone}`}
          role={toast.tone === "error" ? "alert" : "status"}
        >
          <span>{toast.text}</span>
          <button
            type="button"
            class="btn btn-ghost btn-small"
            aria-label="Dismiss"
            onClick={() => props.onDismiss(toast.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** Shows a toast: what a panel is handed to report the outcome of an action. */
export type PushToast = (tone: "ok" | "error", text: string) => void;

let toastId = 0;
export function useToasts() {
  const [items, setItems] = useState<Array<{ id: number; tone: "ok" | "error"; text: string }>>([]);
  const dismiss = useCallback((id: number) => setItems((all) => all.filter((item) => item.id !== id)), []);
  const push = useCallback(
    (tone: "ok" | "error", text: string) => {
      const id = ++toastId;
      setItems((all) => [...all, { id, tone, text }]);
      setTimeout(() => dismiss(id), tone === "error" ? 12_000 : 5_000);
    },
    [dismiss],
  );
  return { items, push, dismiss };
}

/** A labelled "Status" select with an "All statuses" choice; `""` means no filter. */
export function StatusFilter(props: {
  id: string;
  value: string;
  statuses: readonly string[];
  onChange: (status: string) => void;
}) {
  return (
    <div class="field">
      <label for={props.id}>Status</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(event) => props.onChange((event.target as HTMLSelectElement).value)}
      >
        <option value="">All statuses</option>
        {props.statuses.map((value) => (
          <option key={value} value={value}>
            {humanStatus(value)}
          </option>
        ))}
      </select>
    </div>
  );
}
