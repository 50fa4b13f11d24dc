// Lint = correctness rules of typescript-eslint on top of eslint's recommended set.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".certvault/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration once in config/ and pass it down." },
      ],
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly" } },
  },
  // The edges that read the environment (test/edges.test.ts holds the product to it): config/ (the CLI's settings, and
  // config/test-kit.ts for the test kit), and cli/command-io.ts, which hands process.env to the commands as io.env.
  {
    files: ["src/config/**", "src/cli/command-io.ts", "bench/**", "test/**", "bin/**", "eslint.config.js"],
    rules: { "no-restricted-properties": "off" },
  },
);
