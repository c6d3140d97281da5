//go:build !race

package ddi_test

const raceEnabled = false
