#!/usr/bin/env node
// the CLI is one bundled CommonJS file: Node loads it faster than ES modules or hundreds of sources
require('../dist/coderforge.cjs')
