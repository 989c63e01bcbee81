/**
 * Placeholder: the netmap-ts cases (pipe-60, vale-60, vale-1514,
 * vale-2to1-60, vale-flood4-60) will be registered here by the engineers who
 * own them, through registerCase() from ./cases.js. This file intentionally
 * registers nothing yet; run.ts imports it statically so replacing it is all
 * that is needed.
 */
export {};
