export * from './messages.js'
export * from './codec.js'
export * from './enroll.js'
export * from './jobs.js'
