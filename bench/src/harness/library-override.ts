// Loaded with `--import` into server processes when `--lib=<dir>` is given (see library-hooks.ts).
import { register } from 'node:module';

register(new URL('./library-hooks.js', import.meta.url));
