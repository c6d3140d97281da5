package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSample is the CPU time (user + system, seconds) each group of
// processes has used so far: named gosling processes by name, every
// postgres and redis-server process under those names, this process as
// "bench", and the machine as a whole as "machine" (busy time from
// /proc/stat, for the share nobody here used).
type cpuSample map[string]float64

// sampleCPU reads the CPU time of the goslings, Postgres, Redis and the
// bench itself. Processes that exit in between are simply not counted.
func sampleCPU(goslings ...*gosling) cpuSample {
	s := cpuSample{}
	named := make(map[int]string, len(goslings))
	for _, g := range goslings {
		named[g.PID()] = g.name
	}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, secs, ok := procCPU(pid)
		if !ok {
			continue
		}
		switch {
		case named[pid] != "":
			s[named[pid]] += secs
		case pid == self:
			s["bench"] += secs
		case comm == "postgres" || comm == "redis-server":
			s[comm] += secs
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
		var busy float64
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			busy += v
		}
		s["machine"] = busy / clockTicks
	}
	return s
}

// procCPU returns a process's command name and its user + system CPU
// seconds from /proc/PID/stat.
func procCPU(pid int) (string, float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// comm is in parentheses and may contain spaces; the fields after the
	// last ')' are fixed: state is field 3, utime 14, stime 15.
	open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return "", 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), (ut + st) / clockTicks, true
}

// perEvent describes the CPU used between two samples per event, in
// microseconds, largest first: "ddi-0 41 µs, postgres 30 µs, …".
func perEvent(before, after cpuSample, events int) (string, map[string]float64) {
	if events == 0 {
		return "", nil
	}
	us := make(map[string]float64, len(after))
	for k, v := range after {
		us[k] = (v - before[k]) * 1e6 / float64(events)
	}
	keys := make([]string, 0, len(us))
	for k := range us {
		if k != "machine" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if us[a] != us[b] {
			if us[a] > us[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f µs", k, us[k]))
	}
	return fmt.Sprintf("CPU per event: %s (machine busy %.0f µs)", strings.Join(parts, ", "), us["machine"]), us
}
