package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Core pinning for the poll scenario. On a small machine a server and the
// load generator that share every core measure each other: the
// generator's own scheduling delay shows up as server latency, and the
// server's as generator lag. Pinned, the server under test (Gosling or the
// baseline, alike) runs on the last core and the generator on the others.

// pinPlan says which cores the server and the generator get; zero when
// pinning is off or the machine has a single core.
type pinPlan struct {
	server    string // taskset -c list
	generator []int
}

func newPinPlan(on bool) pinPlan {
	n := runtime.NumCPU()
	if !on || n < 2 {
		return pinPlan{}
	}
	gen := make([]int, 0, n-1)
	for i := range n - 1 {
		gen = append(gen, i)
	}
	return pinPlan{server: strconv.Itoa(n - 1), generator: gen}
}

func (p pinPlan) String() string {
	if p.server == "" {
		return "not pinned"
	}
	return fmt.Sprintf("server on CPU %s, load generator on CPU %v", p.server, p.generator)
}

// pinSelf restricts every thread of this process to cpus and returns a
// function that gives every thread all CPUs again. Threads started later
// inherit the mask of the thread that starts them, so the generator's
// goroutines stay on cpus whichever thread runs them.
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
	return func() { _ = apply(&all) }, nil
}
