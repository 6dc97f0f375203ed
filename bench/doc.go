// Package bench compares microkit's building blocks with rival libraries
// side by side in one run.
//
// It is a nested module so that the rivals (sony/gobreaker, failsafe-go,
// watermill, ...) never become dependencies of microkit's users. Run it with
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 10 -cpu 1,2 | tee new.txt
//	benchstat new.txt
//
// docs/benchmarks.md records the method and the figures.
package bench
