/**
 * Twinrail storefront snippet — `<script src="https://TWINRAIL/snippet.js" defer></script>`.
 * Dependency-free. Reads `?ref=`, counts the visit (`POST /v1/track`), remembers the code first-touch,
 * and fills every `<twinrail-badge>` with "Referred by NAME — your referrer earns a reward" from
 * `GET /v1/referral`. Exposes `window.twinrail` ({code, referral, ready}) and fires `twinrail:referral`
 * on `document` so a checkout can send the code to its backend. See docs/snippet.md.
 */

interface Referral {
  applied: boolean;
  code: string | null;
  referrer: { displayName: string | null } | null;
}

interface TwinrailGlobal {
  code: string | null;
  referral: Referral | null;
  ready: Promise<Referral | null>;
}

declare global {
  interface Window {
    twinrail?: TwinrailGlobal;
  }
}

(() => {
  if (window.twinrail) return; // loaded twice: the first copy wins
  const script = document.currentScript as HTMLScriptElement | null;
  const base = script?.src ? new URL(script.src).origin : location.origin;
  const sameOrigin = base === location.origin;
  const STORE = "tw_ref_visible";
  const tag = "twinrail-badge";

  const normalize = (raw: string | null | undefined): string | null => {
    if (!raw) return null;
    const code = raw.trim().normalize("NFKC").toUpperCase();
    return /^[A-Z0-9][A-Z0-9_-]{2,31}$/.test(code) ? code : null;
  };
  const cookie = (name: string): string | null => {
    const hit = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
    return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
  };
  const storage = (area: "localStorage" | "sessionStorage"): Storage | null => {
    try {
      return window[area];
    } catch {
      return null; // storage blocked: the snippet still works, without memory
    }
  };
  const local = storage("localStorage");
  const session = storage("sessionStorage");

  const fromUrl = normalize(new URLSearchParams(location.search).get("ref"));
  const stored = normalize(cookie(STORE)) ?? normalize(local?.getItem(STORE));
  const code = stored ?? fromUrl; // first touch wins, as on the server
  if (fromUrl && !stored) local?.setItem(STORE, fromUrl);

  // A visit counts once per code per tab session; a /r/ link already counted it (and set the cookie).
  const trackKey = `tw_tracked_${fromUrl}`;
  if (fromUrl && fromUrl !== stored && !session?.getItem(trackKey)) {
    session?.setItem(trackKey, "1");
    fetch(`${base}/v1/track`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: fromUrl, path: location.pathname }),
      credentials: sameOrigin ? "same-origin" : "omit",
      keepalive: true,
    }).catch(() => undefined);
  }

  let sheet: CSSStyleSheet | null = null;
  const css =
    ":host{display:block}:host([hidden]){display:none}" +
    ".b{display:flex;align-items:center;gap:.6em;font:500 14px/1.35 system-ui,sans-serif;color:#0b5a3a;" +
    "background:#e3f6ec;border:1px solid #b9e4cc;border-radius:10px;padding:.6em .9em}" +
    ".i{display:inline-grid;place-items:center;width:1.6em;height:1.6em;border-radius:50%;background:#0f7b4f;color:#fff;font-weight:700}";

  class TwinrailBadge extends HTMLElement {
    connectedCallback() {
      this.render();
    }
    render() {
      const referral = window.twinrail?.referral;
      const name = referral?.applied ? referral.referrer?.displayName : null;
      if (!referral?.applied) {
        this.hidden = true;
        return;
      }
      this.hidden = false;
      const root = this.shadowRoot ?? this.attachShadow({ mode: "open" });
      // Constructable stylesheets are not inline styles: the host page's strict CSP still allows them.
      if (!sheet && "adoptedStyleSheets" in Document.prototype) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
      }
      if (sheet) root.adoptedStyleSheets = [sheet];
      const box = document.createElement("div");
      box.className = "b";
      box.setAttribute("role", "status");
      const icon = document.createElement("span");
      icon.className = "i";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "✓";
      const text = document.createElement("span");
      text.textContent = name
        ? `Referred by ${name} — your referrer earns a reward`
        : "You were referred — your referrer earns a reward";
      box.append(icon, text);
      root.replaceChildren(box);
      this.setAttribute("data-code", referral.code ?? "");
    }
  }

  const ready: Promise<Referral | null> = code
    ? fetch(`${base}/v1/referral?code=${encodeURIComponent(code)}`, {
        credentials: sameOrigin ? "same-origin" : "omit",
      })
        .then((res) => (res.ok ? (res.json() as Promise<Referral>) : null))
        .catch(() => null)
    : Promise.resolve(null);

  const api: TwinrailGlobal = { code, referral: null, ready };
  window.twinrail = api;
  ready.then((referral) => {
    api.referral = referral;
    if (referral?.applied) api.code = referral.code;
    if (!customElements.get(tag)) customElements.define(tag, TwinrailBadge);
    for (const badge of document.querySelectorAll<TwinrailBadge>(tag)) badge.render?.();
    document.dispatchEvent(new CustomEvent("twinrail:referral", { detail: referral }));
  });
})();

export {};
