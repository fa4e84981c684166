// ESLint 10 flat config with typescript-eslint 8.
// TypeScript files are linted with type information (the project service reads tsconfig.json, which covers
// libs/*/src, apps/*/src, test and bench, and apps/shop/web/tsconfig.json for the shop's web app), so rules like
// no-floating-promises see real types.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals for the plain .js/.mjs files (config files, scripts, bench runners). */
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'setTimeout', 'clearTimeout', 'setInterval',
    'clearInterval', 'setImmediate', 'clearImmediate', 'queueMicrotask', 'structuredClone', 'fetch',
    'AbortController', 'AbortSignal', 'TextEncoder', 'TextDecoder', 'performance', 'globalThis',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '**/*.d.ts', 'bench/results/**', '.tmp/**'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  // Plain JavaScript (eslint/jest config, scripts, bench runners).
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: nodeGlobals },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },

  // TypeScript: recommended + the type-aware rules that catch real bugs (lost promises, wrong awaits).
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Promises: a handler or a lock release that is never awaited is a bug in this codebase.
      '@typescript-eslint/no-floating-promises': 'error',
      // Includes async callbacks given where a void one is expected (socket.on('x', async ...)): a rejection there
      // is unhandled and takes the process down.
      '@typescript-eslint/no-misused-promises': 'error',
      // Promise.all over a mix of promises and plain values (e.g. an optional async close()) is fine; an array with
      // no promise at all is the bug (a forgotten call or a missing `async`).
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Safe with decorator metadata: with experimentalDecorators + emitDecoratorMetadata on (tsconfig.json), the
      // rule leaves files with decorators alone, so DI constructor types are never turned into type-only imports.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },

  // Specs and test support: fakes and assertions need a looser hand.
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },

  // The library reads no environment and writes no console: the app passes options, logging goes through Nest's
  // Logger (DESIGN.md, conventions 3).
  {
    files: ['libs/reflex-bridge/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'The library takes options, not environment variables: read process.env in the app and pass options.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value=/^(node:)?process$/] > ImportSpecifier[imported.name='env']",
          message: 'The library takes options, not environment variables: read process.env in the app and pass options.',
        },
      ],
    },
  },
);
