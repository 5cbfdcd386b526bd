// The closed-form point fits live in transform/point-fit.ts (so that register and features can use them); this
// module keeps the landmarks API where it always was.
export * from '../transform/point-fit.js';
