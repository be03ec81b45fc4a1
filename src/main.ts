import { main } from './cli.js'

// `coderforge filter … -o - | head`: the reader went away; that is not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

void main(process.argv).then((code) => { process.exitCode = code })
