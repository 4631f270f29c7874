import { main } from "./cli/index.js";
import { ConfigError } from "./config.js";

// `twinrail <command>` (bin/twinrail; `npm start` runs it bundled, scripts/dev-cli.mjs): the commands live in src/cli/.
main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    if (error instanceof ConfigError) console.error(error.message);
    else console.error(error);
    process.exit(1);
  },
);
