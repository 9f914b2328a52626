/*
 * The import rules of server/ (npm run lint). The data flow of DESIGN.md, as edges:
 * protocol is pure bytes, store is pure cache semantics, records only move bytes; the
 * server and its commands join them.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle makes every module in it load and change together.',
      from: { path: '^server/' },
      to: { circular: true },
    },
    {
      name: 'protocol-is-pure',
      severity: 'error',
      comment: 'protocol/ turns bytes into requests and replies: it knows no store, records, commands or connections.',
      from: { path: '^server/protocol/' },
      to: { path: '^server/', pathNot: '^server/(protocol|memcached)/|^server/framing\\.ts$' },
    },
    {
      name: 'store-is-pure',
      severity: 'error',
      comment: 'store/ is cache semantics over a clock: no bytes on the wire, no sockets.',
      from: { path: '^server/store/' },
      to: { path: '^server/', pathNot: '^server/(store|memcached)/' },
    },
    {
      name: 'records-move-bytes',
      severity: 'error',
      comment: 'records/ sends and frames bytes for the server; it never reads requests or runs commands.',
      from: { path: '^server/records/' },
      to: { path: '^server/(protocol|commands|store|connection)/' },
    },
    {
      name: 'shared-leaves',
      severity: 'error',
      comment: 'memcached/ (its item and number arithmetic) and framing.ts are shared by both sides of a rule above, so they import nothing of the server.',
      from: { path: '^server/(memcached/|framing\\.ts$)' },
      to: { path: '^server/', pathNot: '^server/memcached/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
