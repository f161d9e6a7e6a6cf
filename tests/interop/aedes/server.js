// aedes on 127.0.0.1:PORT, in memory, for midge's interop tests.
// Usage: node server.js PORT
'use strict'
const net = require('net')
const aedes = require('aedes')()

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.js PORT')
  process.exit(2)
}
const server = net.createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => console.log(`aedes ${require('aedes/package.json').version} listening on 127.0.0.1:${port}`))
const stop = () => { server.close(); aedes.close(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
