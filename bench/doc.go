// Package bench compares microkit's building blocks with rival libraries
// side by side in one run.
//
// It is a nested module so that the rivals (sony/gobreaker, failsafe-go,
// watermill, ...) never become dependencies of microkit's users.
//
// run.sh reproduces the table of ratios to the rivals: it runs the
// benchmarks in interleaved rounds, every system once per round in its own
// process, and prints the medians and the median per-round ratios:
//
//	bench/run.sh -rounds 8
//
// docs/benchmarks.md describes the method and gives the figures.
package bench
