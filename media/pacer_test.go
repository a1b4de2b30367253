package media

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPacerDeadlines(t *testing.T) {
	clock := newFakeClock()
	p := &Pacer{period: 20 * time.Millisecond, clock: clock}
	ctx := context.Background()
	wait := func(late time.Duration) time.Duration {
		t.Helper()
		clock.advance(late)
		clock.sleeps = nil
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		var slept time.Duration
		for _, d := range clock.sleeps {
			slept += d
		}
		return slept
	}
	ms := time.Millisecond
	steps := []struct {
		name  string
		late  time.Duration // time the caller spends before Wait
		slept time.Duration // how long Wait must sleep
	}{
		{"first-wait-starts-the-clock", 5 * ms, 0},    // start
		{"second-frame-one-period-later", 0, 20 * ms}, // frame 1 due at 20
		{"work-shortens-the-wait", 15 * ms, 5 * ms},   // frame 2 due at 40
		{"late-caller-returns-at-once", 70 * ms, 0},   // now start+110 ms, frame 3 due at 60
		{"still-catching-up", 0, 0},                   // frame 4 due at 80
		{"last-frame-of-the-backlog", 0, 0},           // frame 5 due at 100
		{"caught-up-waits-again", 0, 10 * ms},         // frame 6 due at 120
		{"on-time-after-catching-up", 0, 20 * ms},     // frame 7 due at 140
	}
	for _, s := range steps {
		if got := wait(s.late); got != s.slept {
			t.Errorf("%s: slept %v, want %v", s.name, got, s.slept)
		}
	}
}

// TestPacerRealTime runs the real clock: 50 frames take 49 periods, and a
// 100 ms stall midway is made up rather than added.
func TestPacerRealTime(t *testing.T) {
	t.Parallel()
	p := NewPacer(20 * time.Millisecond)
	start := time.Now()
	for i := range 50 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	within(t, "50 frames took", time.Since(start), 975*time.Millisecond, 1500*time.Millisecond)
}

func TestPacerStopsWithContext(t *testing.T) {
	t.Parallel()
	p := NewPacer(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	within(t, "Wait returned after", time.Since(start), 0, time.Second)
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on an ended context = %v, want context.Canceled", err)
	}
}

func TestSamplesDuration(t *testing.T) {
	tests := []struct {
		name    string
		samples int64
		want    time.Duration
	}{
		{"zero", 0, 0},
		{"one-frame", FrameSamples, 20 * time.Millisecond},
		{"one-second", SampleRate, time.Second},
		{"one-sample-truncates", 1, 20833 * time.Nanosecond},
		{"a-hundred-hours", 100 * 3600 * SampleRate, 100 * time.Hour},
		{"a-hundred-hours-and-a-frame", 100*3600*SampleRate + FrameSamples, 100*time.Hour + 20*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := samplesDuration(tt.samples); got != tt.want {
				t.Errorf("samplesDuration(%d) = %v, want %v", tt.samples, got, tt.want)
			}
		})
	}
}

func TestPacerWaitAllocatesNothing(t *testing.T) {
	p := NewPacer(time.Nanosecond)
	ctx := context.Background()
	if allocs := testing.AllocsPerRun(100, func() { _ = p.Wait(ctx) }); allocs != 0 {
		t.Errorf("Wait allocates %v times per call", allocs)
	}
}
