package call

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPionLogsAreOneLevelDown(t *testing.T) {
	tests := []struct {
		name    string
		log     func(l pionLogger)
		atLevel slog.Level // the least detailed slog level that shows it
	}{
		{"error-is-warn", func(l pionLogger) { l.Errorf("boom %d", 1) }, slog.LevelWarn},
		{"warn-is-info", func(l pionLogger) { l.Warn("boom 1") }, slog.LevelInfo},
		{"info-is-debug", func(l pionLogger) { l.Infof("boom %d", 1) }, slog.LevelDebug},
		{"debug-is-trace", func(l pionLogger) { l.Debug("boom 1") }, levelTrace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, level := range []slog.Level{tt.atLevel, tt.atLevel + 1} {
				var buf bytes.Buffer
				logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
				tt.log(pionLogs{logger}.NewLogger("ice").(pionLogger))
				shown := strings.Contains(buf.String(), "boom 1") && strings.Contains(buf.String(), "pion=ice")
				if want := level == tt.atLevel; shown != want {
					t.Errorf("at slog level %v shown=%v, want %v (output %q)", level, shown, want, buf.String())
				}
			}
		})
	}
}
