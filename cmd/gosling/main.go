// Command gosling is the Gosling update server: one binary whose subcommands
// run its roles. Wiring only: flags → config → construct → run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Gosling: a hawkBit DDI update server for fleets of embedded Linux devices.

Usage:
  gosling serve [flags]     admin API and device (DDI) API in one process (embedded
                            default: SQLite + in-process cache; or Postgres/Redis)
  gosling control [flags]   admin API and invalidation publisher (Postgres + Redis)
  gosling ddi [flags]       a stateless device (DDI) frontline (Postgres + Redis); run N
  gosling migrate [flags]   apply database migrations and exit
  gosling loadgen [flags]   simulate a fleet of devices against a DDI server (loadtest/)
  gosling help              show this text

Run "gosling ROLE -h" for the flags; each has a GOSLING_* environment variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosling:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand; it is main without the process around it, so
// tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve", "control", "ddi":
		r := map[string]role{"serve": roleServe, "control": roleControl, "ddi": roleDDI}[args[0]]
		cfg, err := parseFlags(r, args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return serveRole(ctx, r, cfg, stdout, stderr)
	case "migrate":
		cfg, err := parseFlags(roleMigrate, args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stderr)
	case "loadgen":
		return loadgen(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
