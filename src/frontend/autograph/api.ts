/** The public `kiln.autograph` namespace: inspection helpers (conversion itself is kiln.fn's). */
export { toCode, autographRewrites as rewriteCount } from './convert.js';
