package call

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs to slog, one level down: pion warns about
// things that are routine in a call's life (a packet sent a moment before
// DTLS is up, a stats query on a closing agent), which a user of the CLI
// should not see unless they ask for more detail.
type pionLogs struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

// levelTrace is below slog's Debug: pion's trace is per packet.
const levelTrace = slog.LevelDebug - 4

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelInfo, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }
