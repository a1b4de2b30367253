package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
)

func writeHistory(t *testing.T, home string, recs ...call.HistoryRecord) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(home, call.HistoryFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		line, _ := json.Marshal(r)
		f.Write(append(line, '\n'))
	}
}

func TestMissedCallsAreReportedOnce(t *testing.T) {
	home := t.TempDir()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	writeHistory(t, home,
		call.HistoryRecord{Time: at, Peer: "alice", Direction: call.Incoming, EndReason: call.EndMissed},
		call.HistoryRecord{Time: at.Add(time.Minute), Peer: "carol", Direction: call.Incoming, EndReason: call.EndLocalHangup, DurationS: 30},
		call.HistoryRecord{Time: at.Add(2 * time.Minute), Peer: "dave", Direction: call.Outgoing, EndReason: call.EndMissed},
	)
	var first strings.Builder
	reportMissedTo(&first, home, false)
	if !strings.Contains(first.String(), "1 missed call") || !strings.Contains(first.String(), "alice") ||
		strings.Contains(first.String(), "carol") || strings.Contains(first.String(), "dave") {
		t.Errorf("first report:\n%s\nwant alice's call alone", first.String())
	}
	var again strings.Builder
	reportMissedTo(&again, home, false)
	if again.Len() != 0 {
		t.Errorf("reported again:\n%s", again.String())
	}
	writeHistory(t, home, call.HistoryRecord{Time: at.Add(time.Hour), Peer: "erin", Direction: call.Incoming, EndReason: call.EndMissed})
	var later strings.Builder
	reportMissedTo(&later, home, true)
	var ev call.Event
	if err := json.Unmarshal([]byte(later.String()), &ev); err != nil || ev.Event != "missed" || ev.Peer != "erin" {
		t.Errorf("later report, as events:\n%s\nwant one missed event for erin's call (%v)", later.String(), err)
	}
}

func TestHistoryAndVerifyCommands(t *testing.T) {
	home := t.TempDir()
	if out := runParley(t, "history", "--home", home); !strings.Contains(out, "no calls yet") {
		t.Errorf("history of a new home: %q", out)
	}
	writeHistory(t, home, call.HistoryRecord{Time: time.Now(), Peer: "bob", Direction: call.Outgoing,
		EndReason: call.EndLocalHangup, DurationS: 61, Path: "relay", SAS: "123456"})
	out := runParley(t, "history", "--home", home)
	for _, want := range []string{"→ bob", "local-hangup", "1m1s", "relay", "SAS 123456"} {
		if !strings.Contains(out, want) {
			t.Errorf("history line %q lacks %q", out, want)
		}
	}
	if out := runParley(t, "history", "--missed", "--home", home); !strings.Contains(out, "no calls yet") {
		t.Errorf("history --missed with none missed: %q", out)
	}
	_, errOut, code := runParleyCode(t, "verify", "bob", "--home", home)
	if code != 1 || !strings.Contains(errOut, "no changed key of bob") {
		t.Errorf("verify with no changed key exited %d: %s", code, errOut)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		name string
		s    float64
		want string
	}{
		{"never-connected", 0, "-"},
		{"rounds-up", 2.7, "3s"},
		{"rounds-down", 61.4, "1m1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatDuration(tt.s); got != tt.want {
				t.Errorf("formatDuration(%v) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}
