package call

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// HistoryFile is the file in $PARLEY_HOME where every call is recorded, one
// JSON object a line.
const HistoryFile = "history.jsonl"

// HistoryRecord is one call in the history.
type HistoryRecord struct {
	Time      time.Time `json:"time"` // when it started ringing or was dialled
	CallID    string    `json:"call_id"`
	Peer      string    `json:"peer"`
	Direction Direction `json:"direction"`
	DurationS float64   `json:"duration_s"` // talking time: 0 for a call that never connected
	EndReason EndReason `json:"end_reason"`
	Path      string    `json:"path"` // "direct", "relay", or "" if never connected
	SAS       string    `json:"sas"`
}

// Missed reports whether the record is a call that rang here unanswered.
func (r HistoryRecord) Missed() bool {
	return r.Direction == Incoming && r.EndReason == EndMissed
}

func historyRecord(st Stats) HistoryRecord {
	return HistoryRecord{
		Time: st.Start.UTC(), CallID: st.CallID, Peer: st.Peer, Direction: st.Direction,
		DurationS: st.DurationS, EndReason: st.EndReason, Path: st.Path, SAS: st.SAS,
	}
}

// appendHistory adds one record to home's history. Each record is one
// write of one line to a file opened for appending, so processes sharing
// the home do not interleave their records.
func appendHistory(home string, rec HistoryRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(home, HistoryFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	return f.Close()
}

// ReadHistory returns home's call history, oldest first; none if there is
// no history yet. A line that does not parse (a crash mid-write, an edit)
// is skipped rather than hiding the rest.
func ReadHistory(home string) ([]HistoryRecord, error) {
	f, err := os.Open(filepath.Join(home, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	var recs []HistoryRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r HistoryRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			recs = append(recs, r)
		}
	}
	if err := sc.Err(); err != nil {
		return recs, fmt.Errorf("history: %w", err)
	}
	return recs, nil
}
