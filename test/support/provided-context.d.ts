// Values that vitest globalSetup modules hand to test files through `inject()`.
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers ("127.0.0.1:PORT") of the Kafka broker set up by test/support/kafka-global-setup.ts. */
    kafkaBrokers: string;
  }
}
