package perf

import (
	"context"
	"testing"
)

// BenchmarkStages measures every stage of the audio pipeline per 20 ms
// frame: go test -bench Stages ./media/perf.
func BenchmarkStages(b *testing.B) {
	for _, s := range Stages() {
		b.Run(s.Name, s.Run)
	}
}

// TestLatency checks a loopback call's one-way latency against the goals
// (≤ 45 ms p50 at 20 ms frames, ≤ 30 ms at 10 ms), with a generous bound.
func TestLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls: skipped with -short")
	}
	for _, tt := range []struct {
		name   string
		frame  int
		goalMS float64
	}{
		{"frame-20ms", 960, 45},
		{"frame-10ms", 480, 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := MeasureLatency(context.Background(), LatencyConfig{FrameSamples: tt.frame, Markers: 10})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.Markers < 8 {
				t.Errorf("%d of 10 markers detected", res.Markers)
			}
			if res.P50MS > 2*tt.goalMS || res.MinMS <= 0 {
				t.Errorf("p50 %.1f ms (min %.1f), want ≤ %.0f ms (2× the %.0f ms goal) and positive", res.P50MS, res.MinMS, 2*tt.goalMS, tt.goalMS)
			}
		})
	}
}

// TestPipelineOverhead checks that what Parley adds to the codec on the
// audio path (RTP, SRTP, jitter buffer, copies) stays small against libopus
// itself: the goal is ≤ 20 % of encode + decode; the bound here 50 %.
func TestPipelineOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmarks: skipped with -short")
	}
	ns := map[string]float64{}
	for _, s := range Stages() {
		switch s.Name {
		case "encode-c9", "decode", "send-without-codec", "receive-without-codec":
			ns[s.Name] = float64(testing.Benchmark(s.Run).NsPerOp())
		}
	}
	codec := ns["encode-c9"] + ns["decode"]
	added := ns["send-without-codec"] + ns["receive-without-codec"]
	t.Logf("codec %.0f ns/frame, Parley's pipeline adds %.0f ns/frame (%.2f%%)", codec, added, 100*added/codec)
	if codec == 0 || added > 0.5*codec {
		t.Errorf("pipeline adds %.0f ns to a codec of %.0f ns per frame, want ≤ 50 %%", added, codec)
	}
}
