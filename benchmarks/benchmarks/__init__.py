"""asv benchmark suite of inferplan (see docs/performance.md; configuration in ../asv.conf.json)."""
