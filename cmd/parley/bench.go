package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// benchmarks are the 'parley bench' subcommands (DESIGN §6 contract): each
// prints progress on stderr and, with --json, one JSON object as its last
// line on stdout.
func benchmarks() []subcommand {
	return []subcommand{
		{"directory", "directory --clients N: logins/s, presence fan-out p99, memory per client", runBenchDirectory},
		{"relay", "simulated calls through a TURN relay: parley's supernode or coturn", runBenchRelay},
		{"latency", "latency [--frame 10ms|20ms] [--calls N]: one-way mouth-to-ear p50/p95 over loopback calls", runBenchLatency},
		{"media", "media: ns per 20 ms frame of each audio stage, and the pipeline against the codec alone", runBenchMedia},
		{"soak", "soak [--duration D]: a call with 10 % loss and jitter; memory and buffer delay must stay flat", runBenchSoak},
	}
}

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		benchUsage(os.Stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, b := range benchmarks() {
		if b.name == args[0] {
			return b.run(ctx, args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "parley bench: unknown benchmark %q\n\n", args[0])
	benchUsage(os.Stderr)
	return errUsage
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: parley bench BENCHMARK [flags]\n\nbenchmarks:")
	for _, b := range benchmarks() {
		fmt.Fprintf(w, "  %-10s %s\n", b.name, b.summary)
	}
}

// printResult writes a benchmark's result: as one JSON line with asJSON,
// otherwise as indented JSON for a person to read.
func printResult(w io.Writer, result any, asJSON bool) error {
	var (
		b   []byte
		err error
	)
	if asJSON {
		b, err = json.Marshal(result)
	} else {
		b, err = json.MarshalIndent(result, "", "  ")
	}
	if err != nil {
		return fmt.Errorf("bench result: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
