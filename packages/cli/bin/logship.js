#!/usr/bin/env node
// The logship command. This file is the node process itself (no wrapper), so
// signals sent to its pid reach the handlers in dist/.
import { run } from '../dist/main.js';

run(process.argv.slice(2));
