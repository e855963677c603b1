#!/usr/bin/env node
// osctl: compiled from cmd/osctl.ts by `npm run build` (run by `npm ci` through `prepare`).
import '../dist/cmd/osctl.js';
