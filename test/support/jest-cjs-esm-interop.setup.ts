// Publishes Nest's ES modules for the CommonJS packages rewritten by jest-cjs-esm-interop.cjs (see there why).
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';

(globalThis as Record<symbol, unknown>)[Symbol.for('reflex-bridge.jest.esm-for-cjs')] = { '@nestjs/common': common, '@nestjs/core': core };
