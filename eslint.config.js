// The linter (`npm run lint`, run by `npm test` and .ci/run): eslint's and typescript-eslint's recommended rules,
// which catch mistakes rather than style (style is prettier's: `npm run format`), with these exceptions:
//   no-explicit-any, no-non-null-assertion: off. Wire messages and kernel files are validated with zod where they
//     enter; a `!` after a lookup the code has just guaranteed says so more plainly than a re-check.
//   no-unused-vars: an `_`-prefixed name is meant to be unused (an interface's argument a fake ignores).
//   no-empty: a `catch {}` with a comment saying why nothing is to be done is allowed.
//   no-useless-assignment: off. It flags `let x = fallback; try { x = read() } catch {}`, an idiom used throughout.
//   unused-vars: a rest sibling (`{ a, ...rest }` to leave `a` out) counts as used.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['node_modules/'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  rules: {
    'no-undef': 'off', // TypeScript checks names (typescript-eslint's advice); the page's scripts are checked below
    '@typescript-eslint/no-explicit-any': 'off',
    '@typescript-eslint/no-non-null-assertion': 'off',
    '@typescript-eslint/no-unused-vars': [
      'error',
      { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
    ],
    'no-empty': ['error', { allowEmptyCatch: true }],
    'no-useless-assignment': 'off',
  },
});
