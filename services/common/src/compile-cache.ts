import { enableCompileCache } from 'node:module';

/**
 * Imported first by each service's main: Node caches the V8 bytecode of every module it loads afterwards
 * (NODE_COMPILE_CACHE, or a directory under the OS temp dir), which takes most of the module loading off a
 * restart's path to /ready. Where no directory is writable, Node reports it and runs without the cache.
 */
enableCompileCache(process.env.NODE_COMPILE_CACHE);
