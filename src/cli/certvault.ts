/** The `certvault` command (bin/certvault.js runs this file): cli/main.ts on this process's arguments. */
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
