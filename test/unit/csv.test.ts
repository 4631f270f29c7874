import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { csvCell } from "../../src/ledger/vendor-statements.js";

describe("csvCell (vendor CSV export)", () => {
  it("prefixes cells that a spreadsheet would run as a formula with a quote", () => {
    for (const value of ["=1+1", "+SUM(A1)", "-2+3", "-A1", "+2", "@cmd", "\tx", "\rx"]) {
      expect(csvCell(value).replace(/^"/, "").startsWith("'")).toBe(true);
    }
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
  });

  it("quotes commas, quotes and line breaks and leaves plain cells alone", () => {
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("line\nbreak")).toBe('"line\nbreak"');
    expect(csvCell("12500")).toBe("12500");
    expect(csvCell(null)).toBe("");
  });

  it("exports negative amounts as numbers, not as quoted text", () => {
    expect(csvCell("-4000")).toBe("-4000");
    expect(csvCell(-4000)).toBe("-4000");
    expect(csvCell("-0")).toBe("-0");
    expect(csvCell(`-${10n ** 30n}`)).toBe(`-${10n ** 30n}`);
  });

  it("never lets any string but a plain integer start a cell with a formula character", () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const cell = csvCell(value);
        const content = cell.startsWith('"') ? cell.slice(1) : cell;
        if (/^-?[0-9]+$/.test(value)) expect(cell).toBe(value);
        else expect(/^[=+\-@\t\r]/.test(content)).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt(), (amount) => {
        expect(csvCell(amount.toString())).toBe(amount.toString());
      }),
    );
  });
});
