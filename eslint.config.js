// Lint: typed rules (no floating promises), no import cycles — for the Node code (tsconfig.json)
// and for the dashboard's browser code (dashboard/tsconfig.json: DOM, Preact JSX).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** The rules of one TypeScript project; `rules` adds or overrides. */
function typedProject({ files, ignores = [], project, rules = {} }) {
  return {
    files,
    ignores,
    languageOptions: {
      parserOptions: { project, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // The TypeScript resolver maps './x.js' imports to './x.ts', so that no-cycle sees every edge.
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      ...rules,
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'dashboard/build/**', 'node_modules/**', '**/*.generated.ts', 'bin/**', 'hack/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  typedProject({ files: ['**/*.ts'], ignores: ['dashboard/**'], project: './tsconfig.json', rules: { 'no-console': 'off' } }),
  typedProject({
    files: ['dashboard/**/*.ts', 'dashboard/**/*.tsx'],
    project: './dashboard/tsconfig.json',
    rules: {
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      'no-console': 'error',
    },
  }),
);
