package ddi

import (
	"fmt"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// Maintenance windows (issue 4, PROTOCOL.md item 5).
//
// hawkBit answers a poll outside an action's maintenance window with the
// deploymentBase link and update:"skip". SWUpdate 2022.12 treats "skip" as
// an install that succeeded: it posts closed/success "Skipped Update."
// without installing, and the action would be closed as a success. So
// Gosling withholds the offer instead: outside the window the poll has no
// deploymentBase link and a sleep shortened with schema.SleepBefore, so
// the device is back when the window opens. Inside the window the
// deploymentBase carries "maintenanceWindow":"available" and the rollout's
// update handling (forced or attempt, never skip).
//
// An action is only created while its rollout's window is open, so the
// rollout's statistics show the device as pending, not running, until
// then. An action that was created inside a window but not yet started
// (status pending) is withheld again once the window closes. An action the
// device has started (running) keeps its deploymentBase link after the
// window closes: SWUpdate posts its final result after the reboot only
// while the poll still shows the deploymentBase (PROTOCOL.md item 8), and
// withholding it would lose that result. Its deploymentBase then says
// "maintenanceWindow":"unavailable"; neither client acts on the field
// (rauc only logs it), but it is the truth.

// Values of deployment.maintenanceWindow.
const (
	windowAvailable   = "available"
	windowUnavailable = "unavailable"
)

// windowState renders the maintenanceWindow field for w at now ("" when
// the rollout has no window).
func windowState(w *schema.MaintenanceWindow, now time.Time) string {
	if w == nil {
		return ""
	}
	if open, _ := w.State(now); open {
		return windowAvailable
	}
	return windowUnavailable
}

// windowCloses returns when the window that is open at now closes. The
// schema only says whether a window is open and when it next opens, so the
// close edge is computed here from the same definition (a daily start in
// Location, open for Duration; yesterday's opening may span midnight). If
// the computation disagrees with State, it answers a minute from now so
// that the cached answer is re-checked soon rather than never.
func windowCloses(w *schema.MaintenanceWindow, now time.Time) time.Time {
	var h, m int
	if n, err := fmt.Sscanf(w.Start, "%d:%d", &h, &m); err != nil || n != 2 {
		return now.Add(time.Minute)
	}
	loc := time.UTC
	if w.Location != "" {
		l, err := time.LoadLocation(w.Location)
		if err != nil {
			return now.Add(time.Minute)
		}
		loc = l
	}
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	start := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	for _, day := range []int{0, -1} {
		s := midnight.AddDate(0, 0, day).Add(start)
		if end := s.Add(time.Duration(w.Duration)); !now.Before(s) && now.Before(end) {
			return end
		}
	}
	return now.Add(time.Minute)
}
