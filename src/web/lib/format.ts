/** Exact display of amounts: no floats ever touch money. Exponents come from the server's own table. */

import { currencyExponent } from "../../domain/currencies";

export const TOKEN_SYMBOL = "TWR";

function toBig(value: string | bigint | number | null | undefined): bigint {
  if (value === null || value === undefined || value === "") return 0n;
  if (typeof value === "bigint") return value;
  try {
    return BigInt(value);
  } catch {
    return 0n;
  }
}

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

function scaled(amount: bigint, decimals: number, trim: boolean, maxFraction?: number): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString();
  let whole = digits;
  let fraction = "";
  if (decimals > 0) {
    const padded = digits.padStart(decimals + 1, "0");
    whole = padded.slice(0, -decimals);
    fraction = padded.slice(-decimals);
  }
  if (maxFraction !== undefined && fraction.length > maxFraction) {
    // Display only: truncate toward zero, marked by the caller with a title holding the exact value.
    fraction = fraction.slice(0, maxFraction);
  }
  if (trim) fraction = fraction.replace(/0+$/, "");
  return `${negative ? "-" : ""}${group(whole)}${fraction ? `.${fraction}` : ""}`;
}

/** "12500", "UAH" → "125.00 UAH". */
export function money(amount: string | bigint | null | undefined, currency: string): string {
  const code = (currency || "").toUpperCase();
  return `${scaled(toBig(amount), currencyExponent(code), false)} ${code}`.trim();
}

/** wei → "12.5 TWR" (up to 6 decimals shown; `exact` gives all 18). */
export function tokens(wei: string | bigint | null | undefined, exact = false): string {
  return `${scaled(toBig(wei), 18, true, exact ? undefined : 6)} ${TOKEN_SYMBOL}`;
}

export function tokensExact(wei: string | bigint | null | undefined): string {
  return tokens(wei, true);
}

/** Basis points → "10.00 %". */
export function bps(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `${scaled(BigInt(value), 2, false)} %`;
}

export function count(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return group(String(value));
}

export function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function date(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function shortHash(hash: string | null | undefined): string {
  if (!hash) return "—";
  return hash.length > 14 ? `${hash.slice(0, 8)}…${hash.slice(-6)}` : hash;
}

export function sum(values: Array<string | bigint | null | undefined>): bigint {
  return values.reduce<bigint>((total, value) => total + toBig(value), 0n);
}

export function humanStatus(status: string): string {
  return status.replace(/_/g, " ");
}
