/**
 * ISO 4217 currencies whose minor unit is not 1/100; anything not listed has exponent 2. A pure module
 * with no imports: the server (src/domain/money.ts) and the pages (src/web/lib/format.ts) share it, so
 * an amount is always displayed with the exponent the ledger stored it in.
 */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = Object.freeze({
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
});

/** Number of decimal places of a currency's minor unit (2 unless the table above says otherwise). */
export function currencyExponent(currency: string): number {
  return CURRENCY_EXPONENTS[currency.toUpperCase()] ?? 2;
}
