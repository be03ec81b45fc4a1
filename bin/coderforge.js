#!/usr/bin/env node
// the CLI is one bundled module: loading it costs a fraction of loading its hundreds of sources
import '../dist/coderforge.mjs'
