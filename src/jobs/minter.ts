/** The minter lives in ./minter/ (one module per step); this path stays for its importers. */
export * from "./minter/index.js";
