/** The build suite again, on the copy snapshotter (the fallback where overlay cannot mount). */
process.env.STRATA_TEST_SNAPSHOTTER = 'copy';
await import('./build.test.js');
