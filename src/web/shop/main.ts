/** The demo storefront: products, a cart, checkout through the shop's own backend, simulated payment. */
import { money } from "../lib/format";
import "../lib/styles.css";
import "./shop.css";

interface Product {
  productId: string;
  vendorId: string;
  vendorName: string;
  name: string;
  blurb: string;
  unitAmount: string;
}

interface OrderResult {
  orderReference: string;
  referralApplied: boolean;
  referralCode: string | null;
  attributionSource?: string | null;
  coupon?: { code: string | null; status: string } | null;
  referrer: { displayName: string | null } | null;
  reason?: string;
  lines: Array<{ lineId: string; commissionBps: number; rateSource: string }>;
  totals: { gross: string; referralCommission: string };
  currency: string;
  detail?: string;
}

const REASONS: Record<string, string> = {
  unknown_code: "the referral code is unknown",
  inactive_code: "the referral code is no longer active",
  self_referral: "you cannot refer yourself",
  already_attributed: "you were already referred by someone else",
  cap_reached: "the referrer reached their limit",
  no_code: "no referral code came with this visit",
};

const COUPON_REASONS: Record<string, string> = {
  unknown_coupon: "no such coupon",
  inactive_coupon: "the coupon was withdrawn",
  expired_coupon: "the coupon has expired",
  coupon_exhausted: "the coupon has been used up",
  currency_mismatch: "the coupon is for another currency",
  self_referral: "you cannot use your own coupon",
};

// Glyphs every system font has (no emoji font is assumed).
const ART: Record<string, string> = { p_novel: "❦", p_atlas: "✈", p_chess: "♞" };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const cart = new Map<string, number>();
let products: Product[] = [];
let currency = "UAH";

function buyerId(): string {
  const key = "corner_market_buyer";
  let id = localStorage.getItem(key);
  if (!id) {
    id = `m_shopper_${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem(key, id);
  }
  return id;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function renderProducts() {
  const list = $("products");
  list.replaceChildren(
    ...products.map((product) => {
      const button = el(
        "button",
        { class: "btn btn-primary", type: "button", "data-product": product.productId },
        "Add to cart",
      );
      button.addEventListener("click", () => {
        cart.set(product.productId, (cart.get(product.productId) ?? 0) + 1);
        renderCart();
      });
      return el(
        "article",
        { class: "card product" },
        el("div", { class: "product-art", "aria-hidden": "true" }, ART[product.productId] ?? "★"),
        el("h2", {}, product.name),
        el("p", { class: "muted small" }, `Sold by ${product.vendorName}`),
        el("p", { class: "small" }, product.blurb),
        el("p", { class: "price" }, money(product.unitAmount, currency)),
        button,
      );
    }),
  );
}

function cartTotal(): bigint {
  let total = 0n;
  for (const [productId, quantity] of cart) {
    const product = products.find((p) => p.productId === productId);
    if (product) total += BigInt(product.unitAmount) * BigInt(quantity);
  }
  return total;
}

function renderCart() {
  const items = [...cart].filter(([, quantity]) => quantity > 0);
  $("cart-count").textContent = `Cart: ${items.reduce((n, [, q]) => n + q, 0)}`;
  ($("place-order") as HTMLButtonElement).disabled = items.length === 0;
  if (items.length === 0) {
    $("cart").replaceChildren(el("p", { class: "muted" }, "Your cart is empty."));
    return;
  }
  const rows = items.map(([productId, quantity]) => {
    const product = products.find((p) => p.productId === productId)!;
    const remove = el(
      "button",
      { class: "btn btn-ghost btn-small", type: "button", "aria-label": `Remove ${product.name}` },
      "Remove",
    );
    remove.addEventListener("click", () => {
      cart.delete(productId);
      renderCart();
    });
    return el(
      "tr",
      {},
      el("td", {}, product.name),
      el("td", { class: "num" }, `× ${quantity}`),
      el("td", { class: "num" }, money(BigInt(product.unitAmount) * BigInt(quantity), currency)),
      el("td", {}, remove),
    );
  });
  $("cart").replaceChildren(
    el(
      "table",
      { class: "data" },
      el("tbody", {}, ...rows),
      el(
        "tfoot",
        {},
        el(
          "tr",
          {},
          el("td", {}, "Total"),
          el("td", {}),
          el("td", { class: "num" }, money(cartTotal(), currency)),
          el("td", {}),
        ),
      ),
    ),
  );
}

async function placeOrder(event: Event) {
  event.preventDefault();
  const button = $("place-order") as HTMLButtonElement;
  button.disabled = true;
  const result = $("result");
  result.replaceChildren(el("p", { class: "muted" }, "Placing your order…"));
  await window.twinrail?.ready;
  try {
    const res = await fetch("/demo-shop/api/checkout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        buyerId: buyerId(),
        buyerName: ($("buyer-name") as HTMLInputElement).value || undefined,
        refCode: window.twinrail?.code ?? null,
        couponCode: ($("coupon-code") as HTMLInputElement).value.trim() || null,
        items: [...cart].map(([productId, quantity]) => ({ productId, quantity })),
      }),
    });
    const order = (await res.json()) as OrderResult;
    if (!res.ok) throw new Error(order.detail ?? `checkout failed (${res.status})`);
    cart.clear();
    renderCart();
    showOrder(order);
  } catch (error) {
    result.replaceChildren(
      el("div", { class: "alert alert-error", role: "alert" }, String((error as Error).message)),
    );
    button.disabled = false;
  }
}

function showOrder(order: OrderResult) {
  const referral = order.referralApplied
    ? el(
        "div",
        { class: "alert alert-ok", "data-testid": "referral-applied" },
        el("strong", {}, `Referral applied: ${order.referrer?.displayName ?? order.referralCode} `),
        `earns a reward on this order (commission ${money(order.totals.referralCommission, order.currency)}, code ${order.referralCode}).`,
      )
    : el(
        "div",
        { class: "alert alert-info", "data-testid": "referral-not-applied" },
        `No referral on this order${order.reason ? `: ${REASONS[order.reason] ?? order.reason}` : ""}.`,
      );
  const couponNote = order.coupon
    ? el(
        "p",
        { class: "small", "data-testid": "coupon-result" },
        order.coupon.status === "redeemed"
          ? `Coupon ${order.coupon.code} applied (10 % off).`
          : `Coupon not accepted: ${COUPON_REASONS[order.coupon.status] ?? order.coupon.status}.`,
      )
    : "";
  const pay = el("button", { class: "btn btn-ok", type: "button", id: "pay" }, "Pay with demo card");
  const paid = el("div", { "aria-live": "polite" });
  pay.addEventListener("click", async () => {
    (pay as HTMLButtonElement).disabled = true;
    const res = await fetch(`/demo-shop/api/orders/${encodeURIComponent(order.orderReference)}/pay`, {
      method: "POST",
    });
    const body = (await res.json()) as { result?: string; detail?: string };
    paid.replaceChildren(
      res.ok
        ? el(
            "div",
            { class: "alert alert-ok", "data-testid": "paid" },
            `Payment received (webhook ${body.result}). Thank you!`,
          )
        : el(
            "div",
            { class: "alert alert-error", role: "alert" },
            body.detail ?? `payment failed (${res.status})`,
          ),
    );
  });
  $("result").replaceChildren(
    el(
      "div",
      { class: "order-done", "data-testid": "order-result", "data-order": order.orderReference },
      el("h3", {}, "Order placed"),
      el(
        "p",
        {},
        "Order ",
        el("code", {}, order.orderReference),
        ` · total ${money(order.totals.gross, order.currency)}`,
      ),
      referral,
      couponNote,
      el(
        "p",
        { class: "muted small" },
        "Payment is simulated: the button sends a signed order.paid webhook, as a payment provider would.",
      ),
      pay,
      paid,
    ),
  );
}

async function main() {
  $("checkout-form").addEventListener("submit", placeOrder);
  const res = await fetch("/demo-shop/api/products");
  if (!res.ok) {
    $("products").replaceChildren(
      el(
        "div",
        { class: "alert alert-info" },
        "The demo shop backend runs only in demo mode (DEMO=1 or npm start without configuration).",
      ),
    );
    return;
  }
  const body = (await res.json()) as { currency: string; items: Product[] };
  currency = body.currency;
  products = body.items;
  renderProducts();
  renderCart();
}

void main();
