/**
 * The one import point of @peculiar/x509: its dependency injection (tsyringe) needs the
 * reflect-metadata polyfill loaded first, which ESM import order guarantees here.
 */
import 'reflect-metadata';

export * from '@peculiar/x509';
