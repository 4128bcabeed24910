// @ts-check
/**
 * ESLint for cowpool: typescript-eslint's recommended rules with type information for the source,
 * plus the few house rules a reviewer would otherwise have to remember. Formatting is Prettier's
 * (`.prettierrc.json`), not ESLint's. A suppression stands only with a reason:
 * `// eslint-disable-next-line rule -- why`.
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.ci/cache/', 'bench/results/', 'test/fixtures/consumer/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Every suppression says why, after `--`.
      'no-warning-comments': 'off',
      // node: built-ins are imported as such (undici's rule), so a package never shadows one.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex:
                '^(assert|buffer|child_process|cluster|crypto|events|fs|http|net|os|path|perf_hooks|stream|timers|url|util|worker_threads|zlib)(/.*)?$',
              message: "Import Node's built-ins with the node: prefix.",
            },
          ],
        },
      ],
      // A promise nobody awaits loses its rejection: in a pool that is a leaked lease.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Module-level constants are UPPER_SNAKE_CASE or camelCase (functions, bound helpers); no `kName`.
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'variable',
          modifiers: ['const', 'global'],
          format: ['UPPER_CASE', 'camelCase', 'PascalCase'],
          custom: { regex: '^k[A-Z]', match: false },
        },
        { selector: 'typeLike', format: ['PascalCase'] },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // The CommonJS build turns import() into require(), which cannot load ES modules: src/import-module.ts.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression[source.type!="Literal"]', message: 'Load user modules with importModule (src/import-module.ts).' },
      ],
    },
  },
  {
    // Tests and benchmarks: same rules, without type information (fast), and console allowed.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-misused-promises': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        WebAssembly: 'readonly',
        AbortController: 'readonly',
      },
    },
  },
);
