/** The READMEs show the examples exactly as the tests run them. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";

import { packageRoot } from "./support/tessera.js";

for (const readme of ["README.md", "../../README.md"]) {
  test(`${readme} carries examples/spa.ts and examples/resource-server.ts verbatim`, async () => {
    const text = await readFile(join(packageRoot, readme), "utf8");
    for (const example of ["spa.ts", "resource-server.ts"]) {
      const code = (await readFile(join(packageRoot, "examples", example), "utf8")).trimEnd();
      assert.ok(text.includes(`\`\`\`ts\n${code}\n\`\`\``), `${readme} must contain examples/${example} as is`);
    }
  });
}
