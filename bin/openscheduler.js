#!/usr/bin/env node
// openscheduler daemons: compiled from cmd/openscheduler.ts by `npm run build` (run by `npm ci` through `prepare`).
import '../dist/cmd/openscheduler.js';
