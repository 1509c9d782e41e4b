// Lint: typescript-eslint's recommended rules, plus the layout rule of ARCHITECTURE.md:
// a folder is imported only through its front door (index.ts; an engine's own folder may
// have an internal door for tests, engines/<engine>/index.ts). test/layout.test.ts checks src strictly.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "coverage/**", ".turbine/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^\\.\\./(?:\\.\\./)*(?:src/)?(protocols|runtime|model|frontend|kv|router|engines|cli|bench|transfer|kvbm|planner)/(?!(?:[\\w-]+/)?index\\.ts$).+",
              message: "Import another subsystem only through its front door (index.ts).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["bin/**/*.js", "eslint.config.js", ".ci/**/*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
