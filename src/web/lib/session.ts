/**
 * Credentials live in sessionStorage only (gone when the tab closes). A link may carry one in the URL
 * fragment (`#token=…`), which browsers never send to the server: it is moved into sessionStorage and
 * the fragment is cleared before anything else runs, so it does not linger in history either.
 */

export type Surface = "admin" | "vendor" | "referrer";

const storageKey = (surface: Surface) => `twinrail.${surface}.token`;

export function takeTokenFromFragment(surface: Surface): void {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return;
  const params = new URLSearchParams(hash);
  const token = params.get("token");
  if (!token) return;
  saveToken(surface, token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(
    null,
    "",
    `${window.location.pathname}${window.location.search}${rest ? `#${rest}` : ""}`,
  );
}

export function loadToken(surface: Surface): string | null {
  try {
    return sessionStorage.getItem(storageKey(surface));
  } catch {
    return null;
  }
}

export function saveToken(surface: Surface, token: string): void {
  sessionStorage.setItem(storageKey(surface), token.trim());
}

export function clearToken(surface: Surface): void {
  sessionStorage.removeItem(storageKey(surface));
}
