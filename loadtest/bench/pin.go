package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Core pinning for the latency measurements. On a small machine a server
// and the load generator that share every core measure each other: the
// generator's own scheduling delay shows up as latency. Confined to CPU
// 0, with GOMAXPROCS 1, the generator still shares that core with
// whatever the kernel puts there, but no longer spreads its own threads
// over the server's.

// generatorCPUs is where the generator runs when on: CPU 0, on a machine
// with more than one; nil means anywhere.
func generatorCPUs(on bool) []int {
	if !on || runtime.NumCPU() < 2 {
		return nil
	}
	return []int{0}
}

// pinSelf restricts every thread of this process to cpus, and GOMAXPROCS
// to their number, and returns a function that undoes both. Threads
// started later inherit the mask of the thread that starts them, so the
// generator's goroutines stay on cpus whichever thread runs them; without
// the GOMAXPROCS change two Ps would share one core, their threads
// spinning for work the other holds.
func pinSelf(cpus []int) (restore func(), err error) {
	var set, all unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	for c := range runtime.NumCPU() {
		all.Set(c)
	}
	apply := func(s *unix.CPUSet) error {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// A thread may exit in between: ESRCH is not an error here.
			if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity %d: %w", tid, err)
			}
		}
		return nil
	}
	if err := apply(&set); err != nil {
		_ = apply(&all)
		return nil, err
	}
	procs := runtime.GOMAXPROCS(len(cpus))
	return func() {
		runtime.GOMAXPROCS(procs)
		_ = apply(&all)
	}, nil
}
