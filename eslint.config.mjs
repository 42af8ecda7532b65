// ESLint (flat config) for the dashboard (services/gateway/web) and its browser tests
// (tests/browser); run by ctest as eslint_check (label lint). Versions pinned in package.json.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', 'build*/**'] },
  js.configs.recommended,
  {
    files: ['services/gateway/web/src/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: globals.browser },
    // The dashboard reports to the page, not the console (errors excepted).
    rules: { 'no-console': ['error', { allow: ['error', 'warn'] }] },
  },
  {
    // Node scripts; the browser tests also hand functions to the page (page.evaluate).
    files: ['services/gateway/web/build.mjs', 'services/gateway/web/tests/**/*.mjs', 'tests/browser/**/*.mjs'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
  },
  {
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-implicit-coercion': ['error', { allow: ['!!'] }],
    },
  },
];
