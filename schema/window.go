package schema

import (
	"fmt"
	"time"
)

// Validate reports whether the window can be evaluated.
func (w *MaintenanceWindow) Validate() error {
	if _, _, err := w.parse(); err != nil {
		return err
	}
	if w.Duration <= 0 || time.Duration(w.Duration) > 24*time.Hour {
		return Errorf(EINVALID, "maintenance window duration %s is outside (0, 24h]", time.Duration(w.Duration))
	}
	return nil
}

func (w *MaintenanceWindow) parse() (time.Duration, *time.Location, error) {
	var h, m int
	if n, err := fmt.Sscanf(w.Start, "%d:%d", &h, &m); err != nil || n != 2 || h < 0 || h > 23 || m < 0 || m > 59 || len(w.Start) != 5 {
		return 0, nil, Errorf(EINVALID, "maintenance window start %q: want HH:MM", w.Start)
	}
	loc := time.UTC
	if w.Location != "" {
		l, err := time.LoadLocation(w.Location)
		if err != nil {
			return 0, nil, Errorf(EINVALID, "maintenance window location %q: not an IANA time zone", w.Location)
		}
		loc = l
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, loc, nil
}

// State tells whether the window is open at now, and how long until it
// next opens (0 when open). A window that cannot be parsed is never open.
// Daily windows may span midnight; a DST change shifts them with the clock.
func (w *MaintenanceWindow) State(now time.Time) (open bool, opensIn time.Duration) {
	start, loc, err := w.parse()
	if err != nil {
		return false, 24 * time.Hour
	}
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	// Yesterday's window may still be open (windows spanning midnight).
	for _, day := range []int{-1, 0} {
		s := midnight.AddDate(0, 0, day).Add(start)
		if !now.Before(s) && now.Before(s.Add(time.Duration(w.Duration))) {
			return true, 0
		}
	}
	next := midnight.Add(start)
	if !next.After(now) {
		next = midnight.AddDate(0, 0, 1).Add(start)
	}
	return false, next.Sub(now)
}

// SleepBefore shortens a poll sleep ahead of the window, as hawkBit does:
// a third of the time left, so devices are there when it opens, but at
// least 1 s.
func SleepBefore(sleep, opensIn time.Duration) time.Duration {
	if third := opensIn / 3; third < sleep {
		return max(third, time.Second)
	}
	return sleep
}
