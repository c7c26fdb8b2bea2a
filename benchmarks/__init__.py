"""The benchmark suite: suites as data, one runner, one report writer, performance measurements."""
