//go:build linux

package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gordonklaus/portaudio"
)

// syncBuffer is a bytes.Buffer safe for a child process's output copier and
// the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// jackServer is a jackd child process.
type jackServer struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

// stop ends the server: politely, then by force.
func (s *jackServer) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// startJACK starts a private JACK server on the dummy driver, which paces
// PortAudio's callbacks in real time without a sound card, and waits until
// PortAudio sees it. driverArgs go to the dummy driver after its rate and
// period. The server is stopped when the test ends, also on failure.
func startJACK(t *testing.T, driverArgs ...string) *jackServer {
	jackd, err := exec.LookPath("jackd")
	if err != nil {
		t.Skip("jackd is not installed (Debian package jackd2): no sound server to run PortAudio streams on")
	}
	if raceEnabled {
		// The binding passes stream ids to C disguised as pointers, which
		// the race detector's pointer checks (checkptr) abort on.
		t.Skip("gordonklaus/portaudio streams cannot run under the race detector")
	}
	// libjack in this process and jackd both find the server by this name.
	name := fmt.Sprintf("parley-media-test-%d", os.Getpid())
	t.Setenv("JACK_DEFAULT_SERVER", name)
	cmd := exec.Command(jackd, append([]string{"--no-realtime", "-d", "dummy", "-r", "48000", "-p", "960"}, driverArgs...)...)
	// Should the test binary die without cleaning up, jackd goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jackd: %v", err)
	}
	server := &jackServer{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(server.exited)
	}()
	t.Cleanup(server.stop)

	// PortAudio enumerates devices when it initialises, which Devices does
	// anew each time while no stream holds PortAudio.
	deadline := time.Now().Add(10 * time.Second)
	for {
		devs, err := Devices()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if strings.HasPrefix(d.HostAPI, "JACK") {
				return server
			}
		}
		select {
		case <-server.exited:
			t.Fatalf("jackd exited: %v\n%s", cmd.ProcessState, output.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			if !portAudioHasJACK(t) {
				t.Skip("PortAudio has no JACK host API even with jackd running: built without it?")
			}
			t.Fatalf("PortAudio found no JACK device 10 s after jackd started; jackd said:\n%s", output.String())
		}
	}
}

func portAudioHasJACK(t *testing.T) bool {
	var has bool
	err := withPortAudio(func() error {
		hosts, err := portaudio.HostApis()
		for _, h := range hosts {
			has = has || h.Type == portaudio.JACK
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// TestDeviceStreamsThroughJACK runs real PortAudio streams, headless: the
// microphone delivers frames in real time, the speaker plays what it is
// given, and with JACK's tools at hand the speaker is wired to the
// microphone to check that the audio itself goes through.
func TestDeviceStreamsThroughJACK(t *testing.T) {
	startJACK(t)

	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("devices: %+v", devs)
	var jack DeviceInfo
	for _, d := range devs {
		if strings.HasPrefix(d.HostAPI, "JACK") {
			jack = d
		}
	}
	if jack.InputChannels < 1 || jack.OutputChannels < 1 || !jack.DefaultInput || !jack.DefaultOutput {
		t.Errorf("JACK device %+v: want input and output channels, and the defaults", jack)
	}

	if _, err := OpenSource("device:no-such-device", SourceOptions{}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("(have %q)", jack.Name)) {
		t.Errorf("opening an unknown device: error %v, want one listing %q", err, jack.Name)
	}
	src, err := OpenSource("default", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Any case, any part of the name.
	sink, err := OpenSink("device:" + strings.ToUpper(jack.Name[:len(jack.Name)-1]))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	looped := loopBack(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	played := make(chan error, 1)
	go func() { played <- playTone(ctx, sink, 1000, 75) }()

	const frames = 50
	var captured []int16
	frame := make([]int16, FrameSamples)
	start := time.Now()
	for range frames {
		if err := src.ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
		captured = append(captured, frame...)
	}
	elapsed := time.Since(start)
	micStats := src.(StatsReporter).Stats()
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	speakerStats := sink.(StatsReporter).Stats()
	t.Logf("%d frames in %v; microphone %+v; speaker %+v", frames, elapsed, micStats, speakerStats)
	within(t, "50 frames took", elapsed, 700*time.Millisecond, 2*time.Second)
	// Generous bounds: they catch a ring that loses audio all the time,
	// not the odd hiccup of a busy machine.
	within(t, "microphone overruns", micStats.Overruns, 0, 5*FrameSamples)
	within(t, "speaker underruns", speakerStats.Underruns, 0, 10*FrameSamples)

	if looped {
		tail := toFloat64(captured[len(captured)/2:])
		within(t, "looped-back frequency", zeroCrossingFrequency(tail, SampleRate), 995, 1005)
		within(t, "looped-back peak", rms(tail)*math.Sqrt2, 0.4, 0.6)
	}

	if err := src.Close(); err != nil {
		t.Error(err)
	}
	if err := sink.Close(); err != nil {
		t.Error(err)
	}
	if err := lockPortAudio(); err != nil {
		t.Fatal(err)
	}
	defer unlockPortAudio()
	if paUsers != 0 {
		t.Errorf("PortAudio still has %d users after closing everything", paUsers)
	}
}

// playTone writes frames of a hz Hz tone at -6 dBFS to sink in real time.
func playTone(ctx context.Context, sink Sink, hz float64, frames int) error {
	tone := newToneSource(hz)
	frame := make([]int16, FrameSamples)
	for range frames {
		if err := tone.ReadFrame(ctx, frame); err != nil {
			return err
		}
		if err := sink.WriteFrame(frame); err != nil {
			return err
		}
	}
	return nil
}

// loopBack wires this process's JACK output port to its input port with
// jack_connect, and reports whether it could.
func loopBack(t *testing.T) bool {
	lsp, lspErr := exec.LookPath("jack_lsp")
	connect, connectErr := exec.LookPath("jack_connect")
	if lspErr != nil || connectErr != nil {
		t.Log("jack_lsp or jack_connect is not installed: not checking the audio itself")
		return false
	}
	out, err := exec.Command(lsp).CombinedOutput()
	if err != nil {
		t.Fatalf("jack_lsp: %v\n%s", err, out)
	}
	var in, outPort string
	for _, port := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(port, "system:"):
		case strings.Contains(port, ":in_") && in == "":
			in = port
		case strings.Contains(port, ":out_") && outPort == "":
			outPort = port
		}
	}
	if in == "" || outPort == "" {
		t.Fatalf("no PortAudio ports among JACK's:\n%s", out)
	}
	if out, err := exec.Command(connect, outPort, in).CombinedOutput(); err != nil {
		t.Fatalf("jack_connect %s %s: %v\n%s", outPort, in, err, out)
	}
	return true
}

// deathChildEnv marks the child process that TestDeviceSurvivesSoundServerDeath
// runs itself in.
const deathChildEnv = "PARLEY_MEDIA_TEST_SERVER_DEATH"

// TestDeviceSurvivesSoundServerDeath kills the sound server under open
// streams, as a crashing sound server or a pulled USB headset does: ReadFrame
// must fail with ErrDeviceStalled, and Close and later uses of PortAudio must
// return errors rather than hang. PortAudio stays wedged afterwards, so the
// test runs in a child process.
func TestDeviceSurvivesSoundServerDeath(t *testing.T) {
	if os.Getenv(deathChildEnv) == "" {
		runSelfInChild(t, "TestDeviceSurvivesSoundServerDeath", deathChildEnv)
		return
	}
	server := startJACK(t)
	src, err := OpenSource("default", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := OpenSink("default")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	frame := make([]int16, FrameSamples)
	for range 5 {
		if err := src.ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
	}

	server.stop()
	t.Cleanup(func() {
		// A JACK client whose server died leaves its semaphore behind.
		leftovers, _ := filepath.Glob("/dev/shm/jack_sem.*_" + server.name + "_*")
		for _, f := range leftovers {
			os.Remove(f)
		}
	})
	start := time.Now()
	for err == nil {
		err = src.ReadFrame(ctx, frame)
	}
	if !errors.Is(err, ErrDeviceStalled) {
		t.Errorf("ReadFrame after the server died = %v, want ErrDeviceStalled", err)
	}
	within(t, "stall noticed after", time.Since(start), stallTimeout, stallTimeout+time.Second)
	if err := sink.WriteFrame(frame); err != nil {
		t.Errorf("WriteFrame after the server died = %v", err)
	}

	for _, step := range []struct {
		name  string
		do    func() error
		limit time.Duration
	}{
		{"close-source", src.Close, closeTimeout},
		{"close-sink", sink.Close, closeTimeout},
		{"list-devices", func() error { _, err := Devices(); return err }, paLockTimeout},
	} {
		start := time.Now()
		err := step.do()
		t.Logf("%s: %v after %v", step.name, err, time.Since(start).Round(time.Millisecond))
		within(t, step.name+" took", time.Since(start), 0, step.limit+time.Second)
	}
}

// runSelfInChild runs test alone in a child test process marked by env, and
// passes on its verdict.
func runSelfInChild(t *testing.T, test, env string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("child test: %v\n%s", err, out)
	case bytes.Contains(out, []byte("--- SKIP")):
		t.Skipf("child test skipped:\n%s", out)
	}
	t.Logf("child test:\n%s", out)
}
