package media

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestOpenSourceSpecs(t *testing.T) {
	path, _ := writeClip(t, 10)
	dir := t.TempDir()
	tests := []struct {
		name    string
		spec    string
		wantErr string // "" for success; else the whole message, with DIR for dir
		wantIs  error
	}{
		{"silence", "silence", "", nil},
		{"tone", "tone:440", "", nil},
		{"tone-fraction", "tone:1000.5", "", nil},
		{"tone-lowest", "tone:20", "", nil},
		{"tone-highest", "tone:20000", "", nil},
		{"file", "file:" + path, "", nil},
		{"tone-not-a-number", "tone:abc", "media: tone:abc: frequency must be a number 20..20000", nil},
		{"tone-empty", "tone:", "media: tone:: frequency must be a number 20..20000", nil},
		{"tone-too-low", "tone:19", "media: tone:19: frequency must be a number 20..20000", nil},
		{"tone-too-high", "tone:20001", "media: tone:20001: frequency must be a number 20..20000", nil},
		{"tone-nan", "tone:NaN", "media: tone:NaN: frequency must be a number 20..20000", nil},
		{"file-missing", "file:DIR/x.wav", "media: file:DIR/x.wav: open: no such file or directory", fs.ErrNotExist},
		{"file-empty-path", "file:", `media: unknown microphone "file:" (want default, device:NAME, file:PATH.wav, tone:HZ or silence)`, nil},
		{"device-empty-name", "device:", `media: unknown microphone "device:" (want default, device:NAME, file:PATH.wav, tone:HZ or silence)`, nil},
		{"unknown", "foo", `media: unknown microphone "foo" (want default, device:NAME, file:PATH.wav, tone:HZ or silence)`, nil},
		{"sink-only-spec", "null", `media: unknown microphone "null" (want default, device:NAME, file:PATH.wav, tone:HZ or silence)`, nil},
		{"case-matters", "Silence", `media: unknown microphone "Silence" (want default, device:NAME, file:PATH.wav, tone:HZ or silence)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := strings.ReplaceAll(tt.spec, "DIR", dir)
			src, err := OpenSource(spec, SourceOptions{})
			checkOpen(t, err, strings.ReplaceAll(tt.wantErr, "DIR", dir), tt.wantIs)
			if src != nil {
				src.Close()
			}
		})
	}
}

func TestOpenSinkSpecs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		spec    string
		wantErr string
		wantIs  error
	}{
		{"null", "null", "", nil},
		{"file", "file:DIR/out.wav", "", nil},
		{"file-in-missing-directory", "file:DIR/nope/out.wav", "media: file:DIR/nope/out.wav: open: no such file or directory", fs.ErrNotExist},
		{"unknown", "foo", `media: unknown speaker "foo" (want default, device:NAME, file:PATH.wav or null)`, nil},
		{"source-only-spec", "silence", `media: unknown speaker "silence" (want default, device:NAME, file:PATH.wav or null)`, nil},
		{"file-empty-path", "file:", `media: unknown speaker "file:" (want default, device:NAME, file:PATH.wav or null)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := strings.ReplaceAll(tt.spec, "DIR", dir)
			sink, err := OpenSink(spec)
			checkOpen(t, err, strings.ReplaceAll(tt.wantErr, "DIR", dir), tt.wantIs)
			if sink != nil {
				sink.Close()
			}
		})
	}
}

func checkOpen(t *testing.T, err error, wantErr string, wantIs error) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("error %v, want success", err)
	case wantErr != "" && err == nil:
		t.Fatalf("success, want error %q", wantErr)
	case wantErr != "" && err.Error() != wantErr:
		t.Errorf("error %q, want %q", err, wantErr)
	}
	if wantIs != nil && !errors.Is(err, wantIs) {
		t.Errorf("error %v does not wrap %v", err, wantIs)
	}
}

// TestDeviceSpecsWithoutSoundCard checks what a machine without a sound
// card (like CI's) says: a clear error wrapping ErrNoDevice, no crash, no
// hang.
func TestDeviceSpecsWithoutSoundCard(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) > 0 {
		t.Skipf("this machine has %d sound devices; the test needs one without", len(devs))
	}
	tests := []struct {
		spec string
		open func(string) error
		want string
	}{
		{"default", openSourceErr, "media: no sound device for input (this machine has no sound card; use --mic file:PATH.wav, tone:HZ or silence)"},
		{"device:USB", openSourceErr, "media: no sound device for input (this machine has no sound card; use --mic file:PATH.wav, tone:HZ or silence)"},
		{"default", openSinkErr, "media: no sound device for output (this machine has no sound card; use --speaker file:PATH.wav or null)"},
		{"device:USB", openSinkErr, "media: no sound device for output (this machine has no sound card; use --speaker file:PATH.wav or null)"},
	}
	for _, tt := range tests {
		err := tt.open(tt.spec)
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNoDevice) {
			t.Errorf("open %q: error %v, want %q wrapping ErrNoDevice", tt.spec, err, tt.want)
		}
	}
	if err := lockPortAudio(); err != nil {
		t.Fatal(err)
	}
	defer unlockPortAudio()
	if paUsers != 0 {
		t.Errorf("PortAudio still has %d users after failed opens", paUsers)
	}
}

func openSourceErr(spec string) error {
	s, err := OpenSource(spec, SourceOptions{})
	if err == nil {
		s.Close()
	}
	return err
}

func openSinkErr(spec string) error {
	s, err := OpenSink(spec)
	if err == nil {
		s.Close()
	}
	return err
}
