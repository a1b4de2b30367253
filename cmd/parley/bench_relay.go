package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/parley-voip/parley/nat/relayload"
)

// relayBenchResult is 'parley bench relay's result (DESIGN §6 contract:
// calls, loss_pct, added_latency_p99_ms).
type relayBenchResult struct {
	Server    string `json:"server"`
	Generator string `json:"generator"`
	relayload.Result
	DurationS float64 `json:"duration_s"`
	// ServerCPUPct is the server process's CPU over the run, in percent of
	// one core; the load generator runs on the same machine.
	ServerCPUPct float64 `json:"server_cpu_pct"`
}

func runBenchRelay(ctx context.Context, args []string) error {
	var (
		calls    int
		server   string
		duration time.Duration
		asJSON   bool
		gen      string
	)
	fs := newFlagSet("bench relay", "bench relay --calls N --server parley|coturn [flags]", os.Stderr)
	fs.IntVar(&calls, "calls", 100, "simulated calls: two TURN allocations each, 50 packets/s of 120 bytes each way")
	fs.StringVar(&server, "server", "parley", "the relay to load: parley (this binary's supernode) or coturn (Debian's turnserver)")
	fs.DurationVar(&duration, "duration", 10*time.Second, "how long the calls talk")
	fs.StringVar(&gen, "generator", "parley", "the load: parley (in-process TURN clients, loss and latency percentiles) or uclient (coturn's turnutils_uclient to an echo peer; its mean round trip is reported as latency_p50_ms)")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if calls <= 0 || duration <= 0 {
		return badUsage("--calls and --duration must be more than 0")
	}
	if gen != "parley" && gen != "uclient" {
		return badUsage("--generator %q: want parley or uclient", gen)
	}
	var (
		srv *relayload.Server
		err error
	)
	switch server {
	case "parley":
		var self string
		if self, err = os.Executable(); err == nil {
			srv, err = relayload.StartParley(ctx, self)
		}
	case "coturn":
		srv, err = relayload.StartCoturn(ctx)
	default:
		return badUsage("--server %q: want parley or coturn", server)
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(os.Stderr, "bench relay: %d calls through %s at %s for %v, load from %s\n", calls, server, srv.Addr, duration, gen)

	cpu0, err := srv.CPU()
	if err != nil {
		return err
	}
	start := time.Now()
	var res relayload.Result
	if gen == "uclient" {
		res, err = relayload.RunUclient(ctx, srv, calls, duration)
	} else {
		res, err = relayload.Run(ctx, relayload.Config{Server: srv.Addr, Secret: srv.Secret, Calls: calls, Duration: duration})
	}
	if err != nil {
		return err
	}
	wall := time.Since(start)
	cpu1, err := srv.CPU()
	if err != nil {
		return err
	}
	return printResult(os.Stdout, relayBenchResult{
		Server:       server,
		Generator:    gen,
		Result:       res,
		DurationS:    wall.Seconds(),
		ServerCPUPct: 100 * (cpu1 - cpu0).Seconds() / wall.Seconds(),
	}, asJSON)
}
