export * from './frontend/index.js';
