package directory_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/parley-voip/parley/directory"
)

// TestIdleSessionHoldsOneSmallGoroutine guards what an idle client costs
// the directory: one goroutine, parked on a stack that the garbage
// collector shrinks to 4 KiB (see session.awaitInput). The clients here
// are bare WebSockets with no goroutines of their own.
func TestIdleSessionHoldsOneSmallGoroutine(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	const n = 300
	for i := range n {
		d.rawDial(t).login(fmt.Sprintf("idle%04d", i), newIdentity(t))
	}
	runtime.GC() // a collection shrinks the stacks of parked goroutines
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := float64(runtime.NumGoroutine()-goroutines) / n
	stack := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("per idle session: %.2f goroutines, %.0f bytes of stack", perSession, stack)
	if perSession > 1.05 {
		t.Errorf("%.2f goroutines per idle session, want 1", perSession)
	}
	if stack > 6<<10 && !raceEnabled {
		t.Errorf("%.0f bytes of stack per idle session, want about 4 KiB", stack)
	}
}
