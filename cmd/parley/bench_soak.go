package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/parley-voip/parley/media/perf"
)

// Flatness limits of 'parley bench soak': what a call may grow by over an
// hour, judged on the growth seen over the measured span plus an allowance
// for the noise a short run cannot average out.
const (
	soakRSSPerHour      = 16 << 20 // bytes
	soakRSSNoise        = 4 << 20
	soakHeapPerHour     = 8 << 20
	soakHeapNoise       = 1 << 20
	soakDelayPerHourMS  = 20
	soakDelayNoiseMS    = 20
	soakGoroutinesSlack = 4
)

// soakResult is 'parley bench soak's result: perf's figures and the verdict.
type soakResult struct {
	perf.SoakResult
	Flat     bool     `json:"flat"`
	Problems []string `json:"problems,omitempty"`
}

func runBenchSoak(ctx context.Context, args []string) error {
	var (
		cfg    perf.SoakConfig
		asJSON bool
	)
	fs := newFlagSet("bench soak", "bench soak [--duration D] [--loss PCT] [--jitter D] [--json]", os.Stderr)
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Minute, "how long the call lasts")
	fs.IntVar(&cfg.LossPercent, "loss", 10, "random loss each way, in percent")
	fs.DurationVar(&cfg.MaxJitter, "jitter", 30*time.Millisecond, "most extra one-way delay a packet gets (uniform from 0)")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	switch {
	case cfg.Duration < time.Minute:
		return badUsage("--duration must be at least 1m: the first 30s are a warm-up")
	case cfg.LossPercent < 1 || cfg.LossPercent > 50:
		return badUsage("--loss %d: want 1-50", cfg.LossPercent)
	case cfg.MaxJitter <= 0:
		return badUsage("--jitter %v: want more than 0", cfg.MaxJitter)
	}
	fmt.Fprintf(os.Stderr, "bench soak: a %v call, %d %% loss and up to %v jitter each way\n", cfg.Duration, cfg.LossPercent, cfg.MaxJitter)
	next := time.Minute
	cfg.Progress = func(s perf.SoakSample) {
		if s.At >= next {
			next += time.Minute
			fmt.Fprintf(os.Stderr, "bench soak: %v: rss %.1f MiB, live heap %.1f MiB, %d goroutines, buffer delay %v\n",
				s.At.Round(time.Second), float64(s.RSSBytes)/(1<<20), float64(s.HeapLiveBytes)/(1<<20), s.Goroutines, s.BufferDelay.Round(time.Millisecond))
		}
	}
	res, err := perf.Soak(ctx, cfg)
	if err != nil {
		return err
	}
	out := soakResult{SoakResult: res}
	out.Problems = soakProblems(res)
	out.Flat = len(out.Problems) == 0
	if err := printResult(os.Stdout, out, asJSON); err != nil {
		return err
	}
	if !out.Flat {
		return fmt.Errorf("bench soak: not flat: %s", out.Problems[0])
	}
	return nil
}

// soakProblems says what grew beyond the limits.
func soakProblems(r perf.SoakResult) []string {
	hours := r.MeasuredS / 3600
	var out []string
	check := func(what string, perHour, noise, limitPerHour float64, unit string) {
		if grown := perHour * hours; grown > limitPerHour*hours+noise {
			out = append(out, fmt.Sprintf("%s grew %.1f %s in %.0f s (%.1f %s an hour), want ≤ %.1f", what, grown, unit, r.MeasuredS, perHour, unit, limitPerHour*hours+noise))
		}
	}
	const mib = 1 << 20
	check("resident memory", r.RSSGrowth/mib, soakRSSNoise/mib, soakRSSPerHour/mib, "MiB")
	check("live heap", r.HeapLiveGrowth/mib, soakHeapNoise/mib, soakHeapPerHour/mib, "MiB")
	check("jitter buffer delay", r.BufferDelayGrowth, soakDelayNoiseMS, soakDelayPerHourMS, "ms")
	if r.GoroutinesEnd > r.GoroutinesStart+soakGoroutinesSlack {
		out = append(out, fmt.Sprintf("goroutines went from %d to %d", r.GoroutinesStart, r.GoroutinesEnd))
	}
	return out
}
